/**
 * console_io (xen/xen.h): the hypervisor's own console. A guest writes its early/boot output here;
 * pvkit keeps each domain's output in a log that dom0's toolstack reads with PVKIT_OP_console_read.
 */
import { hypercall } from "../schema.ts";

export const consoleIo = hypercall({
  name: "console_io",
  number: 18,
  origin: "xen",
  header: "xen/xen.h",
  doc: "Write to or read from the hypervisor console.",
  subopPrefix: "CONSOLEIO_",
  args: [
    { name: "cmd", kind: "subop", doc: "CONSOLEIO_*" },
    { name: "count", kind: "count", doc: "Bytes to write, or the size of the read buffer." },
    { name: "buffer", kind: "buffer", doc: "Guest address of the bytes." },
  ],
  subops: [
    {
      name: "write",
      number: 0,
      buffer: "in",
      result: "value",
      doc: "Write `count` bytes; returns a non-negative value on success.",
      errors: [],
      example: [
        "// Straight to the hypervisor's log of this domain (`pvkit dmesg <domain>`), no console ring.",
        'k.hc.consoleIo.write(new TextEncoder().encode("early hello\\n"));',
      ],
    },
    {
      name: "read",
      number: 1,
      buffer: "out",
      result: "value",
      doc: "Read up to `count` bytes of console input; returns how many were read.",
      errors: [{ errno: "EPERM", when: "the caller is not dom0 (the hypervisor's console input is dom0's)" }],
      example: [
        "// dom0 only; pvkit has no serial input, so it reads 0 bytes.",
        "if (k.privileged) k.print(`${k.hc.consoleIo.read(64).length} bytes of console input`);",
      ],
    },
  ],
});
