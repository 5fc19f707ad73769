/**
 * The machine object a domain's arch layer runs on (PvkitMachine, abi/src/machine.ts), built by the
 * supervisor over the vCPU's trap transport and the worker's mail port. In a domU it is the only
 * thing of the host the realm receives, so every entry point checks its arguments (primitives only)
 * before they reach shared memory, and returns only primitives, fresh plain objects and the frames
 * the hypervisor gave this domain.
 */
import type { MachineMail, PvkitMachine } from "@pvkit/abi/machine";
import type { SupervisorBoot } from "./boot-data.ts";
import { MailKind, MailReader, type MailEntry } from "./mail-ring.ts";
import { TrapTransport } from "./trap.ts";
import type { Wakes } from "./wakes.ts";
import type { FrameViews } from "./frame-views.ts";

/** Whether a mail-ring entry hands a frame over (and so needs a view of it). */
const handsFrame = (e: MailEntry) => e.kind !== MailKind.drop && e.kind !== MailKind.unmap;

/** A mail-ring entry as the guest receives it (`buf`: the view of its frame, if it hands one). */
function mailOf(e: MailEntry, buf: SharedArrayBuffer | undefined): MachineMail {
  switch (e.kind) {
    case MailKind.frames:
      return { t: "frames", pfns: [e.key], bufs: [buf!] };
    case MailKind.drop:
      return { t: "drop", pfns: [e.key] };
    case MailKind.gnttab:
      return { t: "gnttab", mfns: [e.key], bufs: [buf!] };
    case MailKind.map:
    case MailKind.mapReadonly:
      return { t: "map", addr: e.key, buf: buf!, readonly: e.kind === MailKind.mapReadonly };
    default:
      return { t: "unmap", addr: e.key };
  }
}

const NO_MAIL: readonly MachineMail[] = Object.freeze([]);

/**
 * A 64-bit register value: bigints only (a Proxy or object must not run code inside a trap). The
 * register block is a BigUint64Array, which takes any bigint modulo 2^64, as a register would.
 */
function reg(v: unknown): bigint {
  if (typeof v !== "bigint") throw new TypeError("hypercall arguments are 64-bit registers: pass bigints");
  return v;
}

function opNumber(v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff)
    throw new TypeError("hypercall number must be an integer in [0, 2^32)");
  return v;
}

export interface MachineParts {
  machine: PvkitMachine;
  transport: TrapTransport;
}

/**
 * @param onTrap bookkeeping after every trap (the memory gate).
 * @param hrtime the host's monotonic ns counter (captured before lockdown).
 */
export function buildMachine(
  boot: SupervisorBoot,
  views: FrameViews,
  onTrap: () => void,
  hrtime: () => bigint,
  wakes?: Wakes,
): MachineParts {
  const mail: MachineMail[] = [];
  const ring = new MailReader(boot.vcpuPage);
  // All the frames of one drain get their views in one call, so a cell maps each run of them once.
  const drain = () => {
    const entries = ring.take();
    const bufs = views(entries.filter(handsFrame).map((e) => e.mfn));
    let next = 0;
    for (const e of entries) mail.push(mailOf(e, handsFrame(e) ? bufs[next++] : undefined));
  };
  const transport = new TrapTransport(boot.vcpuPage, boot.doorbell, hrtime, drain, onTrap, wakes);
  const res = BigInt(Math.max(0, Math.floor(boot.tscResolutionNs)));
  const machine: PvkitMachine = {
    domid: boot.domid,
    privileged: boot.privileged,
    frames: Object.freeze([...boot.frames]),
    sharedInfo: boot.sharedInfo,
    startInfoPfn: boot.startInfoPfn,
    maxPages: boot.maxPages,
    ...(boot.programUrl ? { programUrl: boot.programUrl } : {}),
    trap: (op, a0, a1, a2, a3, a4) =>
      transport.trap(opNumber(op), reg(a0), reg(a1), reg(a2), reg(a3), reg(a4)),
    trapAsync: (op, a0, a1, a2, a3, a4) =>
      transport.trapAsync(opNumber(op), reg(a0), reg(a1), reg(a2), reg(a3), reg(a4)),
    takeMail: () => (mail.length === 0 ? NO_MAIL : mail.splice(0)),
    // Rounded up, never down: the guest must not see a time before a VIRQ_TIMER deadline that the
    // hypervisor already found passed.
    rdtsc: res > 1n ? () => ((hrtime() + res - 1n) / res) * res : hrtime,
  };
  return { machine, transport };
}
