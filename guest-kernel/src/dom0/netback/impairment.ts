/**
 * A bridge's impairment, for tests: between the switching decision and a port's send, a share of
 * the frames is dropped (`loss`), held back to go after the next frame for the same port
 * (`reorder`), or handed over twice (`duplicate`) — what a lossy, reordering network does to a
 * transport, made on demand, so a test can show its protocol survives it (`pvkit network-impair`).
 *
 * Every choice comes from a seeded pseudo-random generator, so a run with the same seed and the
 * same frames makes the same choices. A frame held back for reordering is let go by the next frame
 * for its port, or by a timer `HOLD_MS` later if none comes: holding never loses a frame.
 */
import type { ImpairmentSettings } from "@pvkit/abi/toolstack-protocol";
import type { NetPort } from "@pvkit/drivers/net/port";

/** The seed when the user gives none: a fixed one, so runs reproduce by default. */
export const DEFAULT_SEED = 1;

/** How long a held frame waits for a later frame to overtake it before it goes anyway (ms). */
export const HOLD_MS = 1;

/** What the impairment did, counted on the bridge's stats (they outlive any one setting). */
export interface ImpairmentCounters {
  dropped: number;
  /** Frames held back: each went out after a later frame, or after HOLD_MS. */
  reordered: number;
  /** Frames handed over a second time. */
  duplicated: number;
}

/** The timer a held frame waits on; injected so a test can fire it when it chooses. */
export interface HoldTimer {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realTimer: HoldTimer = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * mulberry32 (Tommy Ettinger's public-domain generator): 32 bits of state stepped by a Weyl
 * constant, then mixed by multiply-xorshift rounds. Small, fast, and good enough that each frame's
 * draws are independent for a test's purposes. Returns numbers in [0, 1).
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

/** True when the settings would change nothing: the bridge then runs unimpaired. */
export const isNoImpairment = (s: ImpairmentSettings): boolean =>
  s.loss === 0 && s.reorder === 0 && s.duplicate === 0;

interface Held {
  frame: Uint8Array;
  timer: unknown;
}

export class Impairment {
  private readonly random: () => number;
  /** At most one frame held back per port, with the timer that lets it go. */
  private readonly held = new Map<NetPort, Held>();

  constructor(
    readonly settings: Readonly<ImpairmentSettings>,
    private readonly counters: ImpairmentCounters,
    private readonly timer: HoldTimer = realTimer,
    private readonly holdMs = HOLD_MS,
  ) {
    this.random = mulberry32(settings.seed);
  }

  /** Hands `frame` to `port` — or drops it, holds it back, or hands it over twice. */
  send(port: NetPort, frame: Uint8Array): void {
    if (this.settings.loss > 0 && this.random() < this.settings.loss) {
      this.counters.dropped++;
      return;
    }
    const held = this.held.get(port);
    if (held) {
      // This frame overtakes the one held for its port; the held one follows at once. The
      // overtaking frame is not held itself, so a held frame is always overtaken by exactly one.
      this.held.delete(port);
      this.timer.clear(held.timer);
      this.emit(port, frame);
      this.emit(port, held.frame);
      return;
    }
    if (this.settings.reorder > 0 && this.random() < this.settings.reorder) {
      this.counters.reordered++;
      // The caller's frame is ours only during this call: keep a copy.
      const timer = this.timer.set(() => this.release(port), this.holdMs);
      this.held.set(port, { frame: frame.slice(), timer });
      return;
    }
    this.emit(port, frame);
  }

  /** Lets every held frame go now: the impairment is being replaced or cleared. */
  flush(): void {
    for (const [port, h] of [...this.held]) {
      this.timer.clear(h.timer);
      this.release(port);
    }
  }

  /** Forgets the frame held for a port that has left the bridge (there is no one to give it to). */
  forget(port: NetPort): void {
    const h = this.held.get(port);
    if (!h) return;
    this.timer.clear(h.timer);
    this.held.delete(port);
  }

  /** Frames held back now (for tests). */
  get holding(): number {
    return this.held.size;
  }

  private release(port: NetPort): void {
    const h = this.held.get(port);
    if (!h) return;
    this.held.delete(port);
    this.emit(port, h.frame);
  }

  private emit(port: NetPort, frame: Uint8Array): void {
    port.send(frame);
    if (this.settings.duplicate > 0 && this.random() < this.settings.duplicate) {
      this.counters.duplicated++;
      port.send(frame);
    }
  }
}
