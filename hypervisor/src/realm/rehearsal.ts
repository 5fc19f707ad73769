/**
 * The rehearsal: before a pooled worker says it is ready, it boots pvkit's kernel once on a machine
 * of its own, so that the domain it later serves boots on code V8 has already compiled.
 *
 * Why: V8 compiles a function the first time it is called, and a kernel boot calls a few hundred —
 * start_info's decoder, the hypercall SDK, the scheduler, events, timers, the console, the program
 * handle. Timed stage by stage on the development machine, that first-call compilation was about
 * 3.5 ms of the 8.5 ms from `createDomain` to a pooled domain's `main()`: more than the hypervisor's
 * whole part. V8 has no way to compile a function without calling it (its flags for eager
 * compilation are the process's and, in Node 20, not honoured once it runs), so the pooled worker
 * calls them: it boots the kernel with an init that prints one line and returns, and the kernel
 * powers off. A pooled worker keeps bytecode (--no-flush-bytecode, supervisor.ts), so what the
 * rehearsal compiled, and the inline caches it filled, are there when the domain comes.
 *
 * The machine is the worker's own and holds nothing of anyone: REHEARSAL_PAGES pages of fresh
 * memory whose start_info names no xenstore and no console ring (so nothing waits for dom0 and
 * printk goes by console_io), a shared_info page, a vCPU page, and a trap answered here, in the
 * worker, by the little this boot asks of a hypervisor. It is built by the code that builds a
 * domain's machine, so the supervisor's side of a hypercall (the machine's checks, the trap
 * transport, the vCPU page's views) is compiled too: left to the domain's boot, that was ~0.6 ms of
 * a pooled create in a cell. Its domid is DOMID_IDLE, which no domain has. It runs
 * before the worker has a domain and ends before the worker says it is ready; what stays in the
 * realm is compiled code and the kernel's garbage.
 *
 * Rule: the rehearsal must end in the kernel's own poweroff. A kernel that crashes, throws, blocks
 * (waits for an event, which never comes here) or never gets there fails it, and the supervisor
 * ends the pooled worker with the reason rather than hand a domain a realm in an unknown state. The
 * pool logs it; after three such workers in a row it stops preparing any for that kernel image, and
 * domains start cold until the kernel changes (pool/warm-pool.ts).
 */
import type { PvkitMachine } from "@pvkit/abi/machine";
import {
  CONSOLEIO_write,
  DOMID_IDLE,
  ENOSYS,
  EVTCHNOP_bind_virq,
  EVTCHNOP_unmask,
  EvtchnBindVirq,
  SCHEDOP_block,
  SCHEDOP_shutdown,
  SHUTDOWN_poweroff,
  SchedShutdown,
  StartInfo,
  __HYPERVISOR_console_io,
  __HYPERVISOR_event_channel_op,
  __HYPERVISOR_sched_op,
  __HYPERVISOR_set_timer_op,
  PVKIT_TRAP_DONE,
} from "@pvkit/abi/layout";
import { buildMachine, type MachineBoot } from "./machine.ts";
import { vcpuPageViews } from "./vcpu-page.ts";
import type { Wakes } from "./wakes.ts";

/** The rehearsal domain's memory: start_info, the kernel's own pages and the SDK's scratch page. */
export const REHEARSAL_PAGES = 16;
const PAGE = 4096;
/** The console lines kept to explain a failed rehearsal. */
const KEPT_LINES = 8;

/**
 * The end's reason when the kernel blocked instead: nothing ever raises an event on the rehearsal
 * machine (its timer never fires), so a kernel that waits for one would wait for ever.
 */
export const BLOCKED = -1;
/** The end's reason when the kernel's shutdown pointed outside the rehearsal memory. */
export const UNREADABLE = -2;

/** What the rehearsal's kernel did with its one boot. */
export interface RehearsalEnd {
  /**
   * The SHUTDOWN_* code its kernel gave (SHUTDOWN_poweroff: it booted, ran init and powered off),
   * BLOCKED or UNREADABLE.
   */
  reason: number;
  /** Its last console lines. */
  console: string[];
}

/**
 * A machine for one rehearsal boot; `ended` is called once, when its kernel asks to shut down or
 * blocks.
 *
 * It is the machine a domain gets (machine.ts: the same entry points over the same trap transport,
 * trap.ts), so that the rehearsal compiles the supervisor's half of every hypercall too; only its
 * wake-ups are its own: ringing the doorbell serves the trap there and then, in this thread, where a
 * domain's ring reaches the hypervisor's trap service.
 * @param now the host's monotonic ns counter (the machine's TSC), captured before lockdown.
 * @param onTrap what the domain's machine does after every trap (the allocation gate's tick).
 */
export function rehearsalMachine(
  now: () => bigint,
  ended: (end: RehearsalEnd) => void,
  onTrap: () => void = () => undefined,
): PvkitMachine {
  const memory = new SharedArrayBuffer(REHEARSAL_PAGES * PAGE);
  const view = new DataView(memory);
  const si = StartInfo.zero();
  si.magic = "xen-3.0-x86_64";
  si.nr_pages = BigInt(REHEARSAL_PAGES);
  StartInfo.encode(new DataView(memory, 0, PAGE), 0, si);

  const console: string[] = [];
  const text = new TextDecoder();
  let nextPort = 1;
  let done = false;
  /** A guest address and length inside the rehearsal memory, or undefined. */
  const inside = (addr: unknown, len: unknown): number | undefined =>
    typeof addr === "bigint" &&
    typeof len === "number" &&
    Number.isInteger(len) &&
    len >= 0 &&
    addr >= 0n &&
    addr + BigInt(len) <= BigInt(memory.byteLength)
      ? Number(addr)
      : undefined;
  const end = (reason: number) => {
    if (!done) ended({ reason, console: console.map((l) => l.trimEnd()) });
    done = true;
  };

  const serve = (op: number, a0: bigint, a1: bigint, a2: bigint): bigint => {
    if (op === __HYPERVISOR_console_io && a0 === BigInt(CONSOLEIO_write)) {
      const at = inside(a2, Number(a1));
      if (at === undefined) return BigInt(-ENOSYS);
      console.push(text.decode(new Uint8Array(memory, at, Number(a1)).slice()));
      if (console.length > KEPT_LINES) console.shift();
      return a1;
    }
    if (op === __HYPERVISOR_event_channel_op && a0 === BigInt(EVTCHNOP_bind_virq)) {
      const at = inside(a1, EvtchnBindVirq.size);
      if (at === undefined) return BigInt(-ENOSYS);
      const bind = EvtchnBindVirq.decode(view, at);
      EvtchnBindVirq.encode(view, at, { ...bind, port: nextPort++ });
      return 0n;
    }
    if (op === __HYPERVISOR_event_channel_op && a0 === BigInt(EVTCHNOP_unmask)) return 0n;
    if (op === __HYPERVISOR_set_timer_op) return 0n;
    if (op === __HYPERVISOR_sched_op && a0 === BigInt(SCHEDOP_shutdown)) {
      const at = inside(a1, SchedShutdown.size);
      end(at === undefined ? UNREADABLE : SchedShutdown.decode(view, at).reason);
      return 0n;
    }
    return BigInt(-ENOSYS);
  };

  // The vCPU's page and the doorbell, as a domain's supervisor gets them, but this worker's own.
  const vcpuPage = new SharedArrayBuffer(PAGE);
  const regs = vcpuPageViews(vcpuPage);
  const wakes: Wakes = {
    // The trap is stored in the register block: answer it now, as the trap service would.
    ringDoorbell() {
      const r = serve(regs.words[1]!, regs.big[1]!, regs.big[2]!, regs.big[3]!);
      regs.big[6] = BigInt.asUintN(64, r);
      Atomics.store(regs.words, 0, PVKIT_TRAP_DONE);
      return false;
    },
    // Never reached: every trap is answered before the transport looks (a block never gets here).
    // Were one to wait, nothing would ever answer it: fail the rehearsal rather than spin.
    sleep: () => {
      throw new Error("the rehearsal machine's vCPU waited for an answer");
    },
    waitAsync: () => {
      throw new Error("the rehearsal machine's vCPU waited for an answer");
    },
  };
  const boot: MachineBoot = {
    domid: DOMID_IDLE,
    privileged: false,
    runs: [{ pfn: 0, buf: memory }],
    sharedInfo: new SharedArrayBuffer(PAGE),
    vcpuPage,
    doorbell: new SharedArrayBuffer(PAGE),
    startInfoPfn: 0,
    maxPages: REHEARSAL_PAGES,
    tscResolutionNs: 0,
  };
  const noFrames = () => {
    throw new Error("the rehearsal machine hands over no frames");
  };
  const { machine } = buildMachine(boot, noFrames, onTrap, now, wakes);
  // Nothing ever wakes the rehearsal's vCPU, so a block ends the rehearsal as failed at once (a
  // boot that went wrong leaves the kernel idle, not shut down); the block itself stays pending, and
  // is garbage once the kernel is. Any other asynchronous call goes through the domain's path, and
  // is answered at once.
  const trapAsync = machine.trapAsync;
  machine.trapAsync = (op, a0, a1, a2, a3, a4) => {
    if (op !== __HYPERVISOR_sched_op || a0 !== BigInt(SCHEDOP_block))
      return trapAsync(op, a0, a1, a2, a3, a4);
    end(BLOCKED);
    return new Promise<bigint>(() => undefined);
  };
  return machine;
}

/** The kernel image's entry, as the realm evaluated it (image/kernel-image.ts). */
interface KernelImageValue {
  bootRealmKernel(
    program: { default: (k: { print(line: string): void }) => Promise<void> },
    name: string,
  ): void;
}

/** What the rehearsal needs of the realm: to give it a machine, as a domain's start does. */
export interface RehearsalRealm {
  attach(d: { machine: PvkitMachine; enter: (run: () => void) => void; tscResolutionNs: number }): void;
}

/**
 * Boots `kernel` once in `realm` on a rehearsal machine and resolves, with how it ended, once its
 * kernel has powered off and its last task has run; rejects with the reason if it crashed, threw,
 * or had not shut down when `guard` resolved (a hang guard, never a budget: the boot takes
 * milliseconds). `onTrap`: as for rehearsalMachine.
 */
export async function rehearse(
  realm: RehearsalRealm,
  kernel: unknown,
  now: () => bigint,
  guard: Promise<void>,
  onTrap?: () => void,
): Promise<RehearsalEnd> {
  const ended = new Promise<RehearsalEnd>((resolve) => {
    const machine = rehearsalMachine(now, resolve, onTrap);
    realm.attach({ machine, enter: (run) => run(), tscResolutionNs: 0 });
    (kernel as KernelImageValue).bootRealmKernel(
      { default: async (k) => k.print("rehearsal: init ran") },
      "rehearsal",
    );
  });
  const end = await Promise.race([ended, guard.then(() => undefined)]);
  if (!end) throw new Error("its kernel did not shut down");
  const lines = end.console.join(" | ");
  if (end.reason === BLOCKED) throw new Error(`its kernel went idle instead of shutting down: ${lines}`);
  if (end.reason !== SHUTDOWN_poweroff)
    throw new Error(`its kernel shut down with reason ${end.reason}: ${lines}`);
  // The kernel's scheduler stops after the shutdown call returns: let its last turn run here, not
  // in the domain's time.
  await new Promise((r) => setImmediate(r));
  return end;
}
