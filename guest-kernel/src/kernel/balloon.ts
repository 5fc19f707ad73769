/**
 * The balloon: follows xenstore `memory/target` (KiB, written by the toolstack) by giving free
 * frames back to the hypervisor or populating more. It only ever releases *free* frames, so a
 * target below what the kernel is using is approached as far as it can be, never forced.
 */
import type { PageAllocator } from "./mm.ts";
import type { XenStoreClient } from "../xenbus/client.ts";
import { PAGE_SIZE } from "./xen.ts";

export interface BalloonStatus {
  targetPages: number;
  currentPages: number;
}

export class Balloon {
  private target = -1;
  private token: string | undefined;
  /** Told after each adjustment (the kernel logs it). */
  onChange: (s: BalloonStatus) => void = () => undefined;

  constructor(private readonly mm: PageAllocator) {}

  /** Moves toward `targetPages`; returns where it got to. */
  setTarget(targetPages: number): BalloonStatus {
    const previous = this.target;
    this.target = Math.max(0, Math.floor(targetPages));
    const cur = this.mm.stats().total;
    if (this.target < cur) this.mm.shrink(cur - this.target);
    else if (this.target > cur) {
      // The quota grows with the target: the toolstack raised maxmem when it raised the target.
      if (this.target > this.mm.max) this.mm.max = this.target;
      this.mm.grow(this.target - cur);
    }
    const s = { targetPages: this.target, currentPages: this.mm.stats().total };
    // Report moves, not the toolstack re-writing the target we already follow.
    if (this.target !== previous || s.currentPages !== cur) this.onChange(s);
    return s;
  }

  /** Watches `memory/target` (relative to the domain's home path). */
  async start(xs: XenStoreClient): Promise<void> {
    this.token = await xs.watch("memory/target", () => {
      xs.tryRead("memory/target").then(
        (v) => {
          const kib = Number(v);
          if (v === undefined || !Number.isFinite(kib) || kib <= 0) return;
          this.setTarget(Math.floor((kib * 1024) / PAGE_SIZE));
        },
        () => undefined,
      );
    });
  }

  async stop(xs: XenStoreClient): Promise<void> {
    if (this.token) await xs.unwatch(this.token);
    this.token = undefined;
  }

  status(): BalloonStatus {
    return { targetPages: this.target, currentPages: this.mm.stats().total };
  }
}
