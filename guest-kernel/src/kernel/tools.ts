/**
 * Guest tools: the domain's side of the toolstack's control protocol. It advertises what it
 * supports (control/feature-*), watches `control/shutdown` and acts on poweroff/halt/reboot/
 * suspend by clearing the key (the acknowledgement the toolstack waits for) and shutting the
 * kernel down, and notices when the host steps the wallclock. Start it once, after xenstore.
 */
import type { Kernel } from "./kernel.ts";
import type { ShutdownKind } from "./program.ts";

/** control/shutdown values (as xl writes them) and what they mean here. */
export const SHUTDOWN_REQUESTS: Record<string, ShutdownKind> = {
  poweroff: "poweroff",
  halt: "poweroff",
  reboot: "reboot",
  suspend: "suspend",
};

/** How often the wallclock is compared with the last reading (ms). */
export const WALLCLOCK_CHECK_MS = 10_000;
/** A step larger than this is logged (ns). */
const STEP_NS = 100_000_000n;

export class GuestTools {
  private token: string | undefined;
  private lastWc: bigint | undefined;

  constructor(private readonly kernel: Kernel) {}

  /**
   * Publishes features and starts the watch; resolves once the watch is registered. The kernel
   * starts it last, once its devices are up: the toolstack's create answers when
   * feature-poweroff is written (docs/toolstack.md), so that write says the boot is done.
   */
  async start(): Promise<void> {
    const xs = this.kernel.xs;
    if (!xs) return;
    // All four requests go on the ring together; xenstored answers them in order.
    const features = ["feature-poweroff", "feature-reboot", "feature-suspend"].map((f) =>
      xs.write(`control/${f}`, "1").catch(() => undefined),
    );
    const watched = xs.watch("control/shutdown", () => void this.check());
    await Promise.all(features);
    this.token = await watched;
    this.lastWc = this.wallclockBase();
    this.kernel.sched.spawn("wallclock", async (task) => {
      while (!this.kernel.shuttingDown) {
        await task.wait("sleep", this.kernel.timers.sleep(WALLCLOCK_CHECK_MS));
        this.checkWallclock();
      }
    });
  }

  private wallclockBase(): bigint {
    const w = this.kernel.clock.wallclockBase();
    return w.sec * 1_000_000_000n + BigInt(w.nsec);
  }

  /** Logs a host wallclock step; the kernel's time reads follow the new value by themselves. */
  checkWallclock(): void {
    const now = this.wallclockBase();
    if (this.lastWc !== undefined) {
      const d = now - this.lastWc;
      if (d > STEP_NS || d < -STEP_NS)
        this.kernel.printk(`tools: host wallclock stepped by ${d / 1_000_000n} ms`);
    }
    this.lastWc = now;
  }

  /** Reads control/shutdown and acts on a request. Unknown values are logged and cleared. */
  async check(): Promise<void> {
    const xs = this.kernel.xs;
    if (!xs || this.kernel.shuttingDown) return;
    const req = await xs.tryRead("control/shutdown").catch(() => undefined);
    if (!req) return;
    // Clearing the key is the acknowledgement xl waits for before it starts its own timeout.
    await xs.write("control/shutdown", "").catch(() => undefined);
    const kind = SHUTDOWN_REQUESTS[req];
    if (!kind) {
      this.kernel.printk(`tools: ignoring unknown shutdown request "${req}"`);
      return;
    }
    this.kernel.printk(`tools: shutdown requested by the toolstack (${req})`);
    await this.kernel.shutdown(kind);
  }

  async stop(): Promise<void> {
    if (this.token && this.kernel.xs) await this.kernel.xs.unwatch(this.token).catch(() => undefined);
    this.token = undefined;
  }
}
