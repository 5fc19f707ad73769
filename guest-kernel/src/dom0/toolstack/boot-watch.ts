/**
 * Waiting for a new domain to boot, so `pvkit create` can fail when a guest dies on the way up
 * instead of saying "Created" about a domain that is already gone.
 *
 * When is a PV guest "up"? Xen's toolstack has no such moment, but a guest kernel announces one:
 * once its xenbus is connected it writes "1" into `control/feature-poweroff` (and -reboot, -suspend:
 * nodes libxl creates empty and guest-owned), which libxl reads to know the guest will act on
 * control/shutdown. pvkit's kernel writes them as the
 * last step of boot, right before it runs its program — and a domU's program module is loaded
 * (linked into its image) before the kernel starts, so a program that throws while loading, or has
 * no main, never gets there. So create waits for the first of:
 *   - `control/feature-poweroff` becoming non-empty: booted;
 *   - the domain shutting down (VIRQ_DOM_EXC, the toolstack's reap): a crash or watchdog is a failed
 *     boot, with the reason the hypervisor logged; a poweroff or reboot is a guest that finished;
 *   - BOOT_GUARD_MS passing: not a failure (a big guest may be slow), create says it is still booting.
 */
import { shutdownReasonName } from "@pvkit/abi";
import { SHUTDOWN_crash, SHUTDOWN_watchdog } from "@pvkit/abi/layout";
import { domainPath } from "./store-layout.ts";

/** How long create waits for a boot before answering anyway (a hang guard, not a deadline). */
export const BOOT_GUARD_MS = 30_000;

/** How a boot ended, as create reports it. */
export type BootOutcome =
  | { state: "booted" }
  | { state: "stopped"; reason: string }
  | { state: "still booting" }
  | { state: "failed"; reason: string; why: string };

/** The slice of xenstored the watch uses. */
export interface BootStore {
  watch(path: string, cb: () => void): () => void;
  tryRead(path: string): string | undefined;
}

interface Waiter {
  done(o: BootOutcome): void;
}

export class BootWatch {
  private readonly waiting = new Map<number, Waiter>();

  /** @param hypervisorLog the hypervisor's console log (`pvkit dmesg`), where crash reasons are */
  constructor(
    private readonly store: BootStore,
    private readonly hypervisorLog: () => string,
  ) {}

  /** Resolves once `domid` has booted, stopped, or the guard passed. Never rejects. */
  wait(domid: number, guardMs = BOOT_GUARD_MS): Promise<BootOutcome> {
    return new Promise((resolve) => {
      const path = `${domainPath(domid)}/control/feature-poweroff`;
      let unwatch = (): void => undefined;
      const guard = setTimeout(() => w.done({ state: "still booting" }), guardMs);
      const w: Waiter = {
        done: (o) => {
          if (this.waiting.get(domid) !== w) return;
          this.waiting.delete(domid);
          clearTimeout(guard);
          unwatch();
          resolve(o);
        },
      };
      this.waiting.set(domid, w);
      // The watch fires once at once (the node may already be there) and on every change.
      unwatch = this.store.watch(path, () => {
        const v = this.store.tryRead(path);
        if (v !== undefined && v !== "") w.done({ state: "booted" });
      });
    });
  }

  /** The toolstack saw `domid` shut down (before it tears the domain down). */
  stopped(domid: number, reason: number): void {
    const w = this.waiting.get(domid);
    if (!w) return;
    const name = shutdownReasonName(reason);
    if (reason !== SHUTDOWN_crash && reason !== SHUTDOWN_watchdog)
      return w.done({ state: "stopped", reason: name });
    w.done({
      state: "failed",
      reason: name,
      why: crashWhy(this.hypervisorLog(), domid) ?? `shut down: ${name}`,
    });
  }
}

/**
 * The reason the hypervisor logged for `domid`'s last shutdown: what follows "shut down: <reason> ("
 * in its line ("domain 3 (...) shut down: crash (program x failed: ...)"), without the closing
 * parenthesis. Only the first line of it: a reason may go on with a stack trace.
 */
export function crashWhy(log: string, domid: number): string | undefined {
  const prefix = `domain ${domid} `;
  const line = log
    .split("\n")
    .reverse()
    .find((l) => l.startsWith(prefix) && l.includes(") shut down: "));
  const m = line && /\) shut down: \w+ \((.*)$/.exec(line);
  if (!m) return undefined;
  const why = m[1]!.trimEnd();
  const unbalanced = (why.match(/\)/g)?.length ?? 0) > (why.match(/\(/g)?.length ?? 0);
  return unbalanced ? why.slice(0, -1) : why;
}
