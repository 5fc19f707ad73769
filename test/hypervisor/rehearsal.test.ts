// A pooled worker boots pvkit's kernel once on a machine of its own before it serves a domain
// (realm/rehearsal.ts). Here the real kernel boots on that machine in this process, with the test
// playing the realm, and kernels that crash, throw or hang show how a failed rehearsal is reported.
import { describe, expect, it } from "vitest";
import type { PvkitMachine } from "@pvkit/abi/machine";
import {
  DOMID_IDLE,
  ENOSYS,
  EVTCHNOP_bind_virq,
  EvtchnBindVirq,
  SHUTDOWN_crash,
  SchedShutdown,
  __HYPERVISOR_console_io,
  __HYPERVISOR_event_channel_op,
  __HYPERVISOR_sched_op,
  __HYPERVISOR_xen_version,
} from "@pvkit/abi/layout";
import { MACHINE_GLOBAL } from "@pvkit/abi/machine";
import { bootRealmKernel } from "@pvkit/guest-kernel/arch/realm-entry";
import { REHEARSAL_PAGES, rehearsalMachine, rehearse } from "@pvkit/hypervisor/realm/rehearsal";

const now = () => process.hrtime.bigint();
const never = new Promise<void>(() => undefined);
const SCRATCH = 3 * 4096;
/** A hang guard for tests that would wait for ever if the rehearsal did. */
const GUARD = 30_000;

/** A realm that only keeps the machine it is given, where the kernel's arch layer looks for it. */
function testRealm() {
  const seen: PvkitMachine[] = [];
  return {
    seen,
    attach(d: { machine: PvkitMachine }) {
      seen.push(d.machine);
      (globalThis as Record<string, unknown>)[MACHINE_GLOBAL] = d.machine;
    },
  };
}

/** A kernel that prints `line` and shuts down with `reason`, as a kernel's hypercalls would. */
function scriptedKernel(line: string, reason: number) {
  return {
    bootRealmKernel() {
      const m = (globalThis as Record<string, unknown>)[MACHINE_GLOBAL] as PvkitMachine;
      const bytes = new TextEncoder().encode(line);
      new Uint8Array(m.runs[0]!.buf).set(bytes, SCRATCH);
      m.trap(__HYPERVISOR_console_io, 0n, BigInt(bytes.length), BigInt(SCRATCH), 0n, 0n);
      SchedShutdown.encode(new DataView(m.runs[0]!.buf), SCRATCH, { reason });
      m.trap(__HYPERVISOR_sched_op, 2n, BigInt(SCRATCH), 0n, 0n, 0n);
    },
  };
}

describe("the rehearsal", () => {
  it("boots pvkit's kernel to its poweroff on a machine of its own", async () => {
    const realm = testRealm();
    try {
      const end = await rehearse(realm, { bootRealmKernel }, now, never);
      expect(end.reason).toBe(0); // SHUTDOWN_poweroff
      const text = end.console.join("\n");
      expect(text).toContain(`guest kernel: domain ${DOMID_IDLE}, ${REHEARSAL_PAGES} pages`);
      expect(text).toContain("rehearsal: init ran");
      expect(text).toContain("shutdown: poweroff");
      expect(realm.seen).toHaveLength(1);
      expect(realm.seen[0]!.domid).toBe(DOMID_IDLE);
    } finally {
      delete (globalThis as Record<string, unknown>)[MACHINE_GLOBAL];
    }
  });

  it("fails with the kernel's last console lines when it crashes", async () => {
    const realm = testRealm();
    await expect(
      rehearse(realm, scriptedKernel("no timer here\n", SHUTDOWN_crash), now, never),
    ).rejects.toThrow(`its kernel shut down with reason ${SHUTDOWN_crash}: no timer here`);
  });

  it("fails when the kernel's boot throws", async () => {
    const kernel = {
      bootRealmKernel() {
        throw new Error("no such device");
      },
    };
    await expect(rehearse(testRealm(), kernel, now, never)).rejects.toThrow("no such device");
  });

  it(
    "fails at once, with the kernel's last lines, when it goes idle instead of shutting down",
    async () => {
      // A boot that went wrong (a task failed, init never ran) leaves the kernel waiting for an
      // event; nothing raises one on the rehearsal machine, so that wait is the failure.
      const kernel = {
        bootRealmKernel() {
          const m = (globalThis as Record<string, unknown>)[MACHINE_GLOBAL] as PvkitMachine;
          const bytes = new TextEncoder().encode("task init failed: no xenstore\n");
          new Uint8Array(m.runs[0]!.buf).set(bytes, SCRATCH);
          m.trap(__HYPERVISOR_console_io, 0n, BigInt(bytes.length), BigInt(SCRATCH), 0n, 0n);
          void m.trapAsync(__HYPERVISOR_sched_op, 1n, 0n, 0n, 0n, 0n); // SCHEDOP_block
        },
      };
      await expect(rehearse(testRealm(), kernel, now, never)).rejects.toThrow(
        "its kernel went idle instead of shutting down: task init failed: no xenstore",
      );
    },
    GUARD,
  );

  it("fails when the kernel has not shut down by the time its guard ends", async () => {
    const kernel = { bootRealmKernel: () => undefined }; // boots, then waits for ever
    await expect(rehearse(testRealm(), kernel, now, Promise.resolve())).rejects.toThrow(
      "its kernel did not shut down",
    );
  });
});

describe("the rehearsal machine", () => {
  it("answers the boot's hypercalls and nothing else", () => {
    let ends = 0;
    const m = rehearsalMachine(now, () => ends++);
    const view = new DataView(m.runs[0]!.buf);
    const bind = () => {
      EvtchnBindVirq.encode(view, SCRATCH, { virq: 0, vcpu: 0, port: 0 });
      expect(
        m.trap(__HYPERVISOR_event_channel_op, BigInt(EVTCHNOP_bind_virq), BigInt(SCRATCH), 0n, 0n, 0n),
      ).toBe(0n);
      return EvtchnBindVirq.decode(view, SCRATCH).port;
    };
    expect([bind(), bind()]).toEqual([1, 2]); // a port of its own for each binding, never port 0
    expect(m.trap(__HYPERVISOR_xen_version, 0n, 0n, 0n, 0n, 0n)).toBe(BigInt(-ENOSYS));
    // Pointers outside its memory are refused, not followed.
    const end = BigInt(REHEARSAL_PAGES * 4096);
    expect(m.trap(__HYPERVISOR_console_io, 0n, 16n, end - 8n, 0n, 0n)).toBe(BigInt(-ENOSYS));
    expect(m.trap(__HYPERVISOR_console_io, 0n, -8n, end + 8n, 0n, 0n)).toBe(BigInt(-ENOSYS));
    expect(m.trap(__HYPERVISOR_event_channel_op, BigInt(EVTCHNOP_bind_virq), end, 0n, 0n, 0n)).toBe(
      BigInt(-ENOSYS),
    );
    // A shutdown ends the rehearsal once, however often it is asked for.
    m.trap(__HYPERVISOR_sched_op, 2n, BigInt(SCRATCH), 0n, 0n, 0n);
    m.trap(__HYPERVISOR_sched_op, 2n, BigInt(SCRATCH), 0n, 0n, 0n);
    expect(ends).toBe(1);
  });

  it("is a domain's machine: the same checks, the same trap transport, the gate's tick after each trap", async () => {
    let ticks = 0;
    const m = rehearsalMachine(
      now,
      () => undefined,
      () => ticks++,
    );
    // The machine's own checks (machine.ts), before anything reaches the register block.
    expect(() => m.trap(__HYPERVISOR_xen_version, 0 as unknown as bigint, 0n, 0n, 0n, 0n)).toThrow(
      "pass bigints",
    );
    expect(() => m.trap(-1, 0n, 0n, 0n, 0n, 0n)).toThrow("hypercall number");
    expect(ticks).toBe(0);
    // Each call goes through the transport and comes back answered: it is free for the next one.
    for (let i = 0; i < 3; i++)
      expect(m.trap(__HYPERVISOR_xen_version, 0n, 0n, 0n, 0n, 0n)).toBe(BigInt(-ENOSYS));
    expect(ticks).toBe(3);
    // Its asynchronous calls too (all but SCHEDOP_block, which ends the rehearsal).
    expect(() => m.trapAsync(__HYPERVISOR_xen_version, 0n, 1 as unknown as bigint, 0n, 0n, 0n)).toThrow(
      "pass bigints",
    );
    await expect(m.trapAsync(__HYPERVISOR_xen_version, 0n, 0n, 0n, 0n, 0n)).resolves.toBe(BigInt(-ENOSYS));
    expect(ticks).toBe(4);
  });
});
