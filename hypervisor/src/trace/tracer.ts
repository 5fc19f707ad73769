/**
 * Tracing: hypercalls, events and grant operations recorded as Chrome/Perfetto trace events when
 * enabled. Off by default; then the only cost on the hot path is the `enabled` check. A domain is a
 * trace "process" (pid = domid) and a vCPU a "thread".
 */

export interface TraceEvent {
  name: string;
  cat: string;
  /** "X" complete (with dur), "i" instant. */
  ph: "X" | "i";
  /** µs since the tracer started. */
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  s?: "t" | "p" | "g";
  args?: Record<string, unknown>;
}

export class Tracer {
  enabled = false;
  private readonly t0 = performance.now();
  private events: TraceEvent[] = [];

  constructor(private readonly limit = 1_000_000) {}

  now(): number {
    return (performance.now() - this.t0) * 1000;
  }

  /** A finished span (a hypercall from trap to result). */
  complete(
    cat: string,
    name: string,
    pid: number,
    tid: number,
    startUs: number,
    args?: Record<string, unknown>,
  ): void {
    if (!this.enabled || this.events.length >= this.limit) return;
    const e: TraceEvent = {
      name,
      cat,
      ph: "X",
      ts: startUs,
      dur: Math.max(0, this.now() - startUs),
      pid,
      tid,
    };
    if (args) e.args = args;
    this.events.push(e);
  }

  /** A point in time (an event-channel send, a grant map). */
  instant(cat: string, name: string, pid: number, args?: Record<string, unknown>): void {
    if (!this.enabled || this.events.length >= this.limit) return;
    const e: TraceEvent = { name, cat, ph: "i", s: "t", ts: this.now(), pid, tid: 0 };
    if (args) e.args = args;
    this.events.push(e);
  }

  /** The Chrome trace format: load it in ui.perfetto.dev or chrome://tracing. */
  export(domainNames: Map<number, string> = new Map()): { traceEvents: object[]; displayTimeUnit: "ns" } {
    const meta = [...domainNames].map(([pid, name]) => ({
      name: "process_name",
      ph: "M",
      pid,
      tid: 0,
      args: { name },
    }));
    return { traceEvents: [...meta, ...this.events], displayTimeUnit: "ns" };
  }

  clear(): void {
    this.events = [];
  }
}
