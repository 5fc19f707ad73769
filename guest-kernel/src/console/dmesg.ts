/**
 * The kernel log buffer behind `dmesg`: a bounded list of timestamped lines. printk writes here
 * and to the console; the oldest lines are dropped when full, so logging never grows memory
 * without bound. Callers pass whole messages; a message with newlines becomes several lines.
 */

/** One log line. `t` is nanoseconds of system time when it was logged. */
export interface LogLine {
  t: bigint;
  text: string;
}

export class Dmesg {
  private lines: LogLine[] = [];
  private dropped = 0;

  /** @param capacity most lines kept */
  constructor(readonly capacity = 1000) {}

  /** Appends `text` (split on newlines) stamped with `t`. */
  add(t: bigint, text: string): void {
    for (const part of text.replace(/\r/g, "").split("\n")) {
      if (part === "" && text.endsWith("\n")) continue;
      this.lines.push({ t, text: part });
    }
    const over = this.lines.length - this.capacity;
    if (over > 0) {
      this.lines.splice(0, over);
      this.dropped += over;
    }
  }

  /** Lines older than the buffer holds that were discarded. */
  get droppedLines(): number {
    return this.dropped;
  }

  /** The lines, oldest first. */
  all(): readonly LogLine[] {
    return this.lines;
  }

  /** Formats as Linux's dmesg does: "[    1.234567] text". */
  format(): string {
    return this.lines.map((l) => `${formatStamp(l.t)} ${l.text}`).join("\n");
  }
}

/** "[   12.345678]" for 12.345678 s. */
export function formatStamp(ns: bigint): string {
  const us = ns / 1000n;
  const s = us / 1_000_000n;
  const frac = (us % 1_000_000n).toString().padStart(6, "0");
  return `[${s.toString().padStart(5, " ")}.${frac}]`;
}
