/**
 * A timer that is cheap to move. TCP re-arms its retransmission timer on nearly every ACK; a real
 * timer each time would leave thousands of cancelled kernel sleeps behind in a bulk transfer. A
 * LazyTimer keeps one real timer and a deadline: moving the deadline later only writes the field,
 * and when the real timer fires early it re-arms itself for what is left (BSD's callout and Linux's
 * timer wheel make the same trade: cheap re-arming, an occasional early wake).
 */
export interface TimerHost {
  now(): number;
  setTimer(fn: () => void, ms: number): () => void;
}

export class LazyTimer {
  private deadline: number | undefined;
  /** When the real timer fires, if one is armed. */
  private armedFor: number | undefined;
  private cancel: (() => void) | undefined;

  constructor(
    private readonly host: TimerHost,
    private readonly fire: () => void,
  ) {}

  get active(): boolean {
    return this.deadline !== undefined;
  }

  /** Fires `ms` from now (replacing any earlier setting). */
  set(ms: number): void {
    const now = this.host.now();
    this.deadline = now + ms;
    if (this.armedFor === undefined || this.armedFor > this.deadline) this.arm(now);
  }

  /** Fires `ms` from now unless it is already set. */
  ensure(ms: number): void {
    if (this.deadline === undefined) this.set(ms);
  }

  clear(): void {
    this.deadline = undefined;
  }

  /** Clears and releases the real timer too (the connection is gone). */
  stop(): void {
    this.deadline = undefined;
    this.armedFor = undefined;
    this.cancel?.();
    this.cancel = undefined;
  }

  private arm(now: number): void {
    this.cancel?.();
    this.armedFor = this.deadline!;
    this.cancel = this.host.setTimer(() => this.tick(), Math.max(0, this.deadline! - now));
  }

  private tick(): void {
    this.armedFor = undefined;
    this.cancel = undefined;
    if (this.deadline === undefined) return;
    const now = this.host.now();
    if (now < this.deadline) return this.arm(now);
    this.deadline = undefined;
    this.fire();
  }
}
