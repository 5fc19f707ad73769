/**
 * Tracing: hypercalls as spans, and event-channel notifications and grant operations as flows
 * between domains, recorded in memory while someone records and written out as Chrome's trace
 * format (trace/chrome-json.ts), which ui.perfetto.dev and chrome://tracing open. docs/tracing.md
 * says what a trace holds.
 *
 * Off by default. Then the hot paths pay one check of `enabled` and nothing else: the hypercall
 * path, EVTCHNOP_send and the grant ops test it before they build a name or an argument.
 *
 * In a trace a domain is a "process" (pid = domid) and a vCPU a "thread" (tid = vCPU id). Times are
 * kept as whole nanoseconds since the tracer was made, so that a child always lies inside its
 * parent exactly, whatever a viewer rounds to.
 *
 * Recording is by windows: `pvkit up --trace` holds one from boot to exit, `pvkit trace N` one for
 * N seconds; the tracer is on while any window is open and forgets its events when the last closes.
 * Memory is bounded by `limit` events (a few hundred bytes each); past it events are counted as
 * dropped, and whoever writes the trace says so.
 */

/** One recorded event: a complete slice ("X"), possibly one end of a flow. */
export interface TraceEvent {
  readonly name: string;
  readonly cat: string;
  /** Start, ns since the tracer started. */
  readonly ts: number;
  /** Duration in ns (0 for the ends of a flow). */
  readonly dur: number;
  readonly pid: number;
  readonly tid: number;
  readonly args?: Record<string, unknown>;
  /** A flow's id, shared by its two ends; `flow` says which end this slice is. */
  readonly bindId?: number;
  readonly flow?: "out" | "in";
}

/** One end of a flow: a zero-length slice on `pid`/`tid` named `name`. */
export interface FlowEnd {
  readonly pid: number;
  readonly tid: number;
  readonly name: string;
  readonly args?: Record<string, unknown>;
}

/** An open recording window. */
export interface Recording {
  /** Index of the first event of the window in the tracer's buffer. */
  readonly from: number;
  /** Events dropped before the window opened. */
  readonly droppedBefore: number;
}

/** What a closed window recorded. */
export interface Recorded {
  readonly events: readonly TraceEvent[];
  /** Events past the limit that were not kept while the window was open. */
  readonly dropped: number;
  readonly limit: number;
  /** "<name> (dom<id>)" of every domain created so far, by domid (for process names). */
  readonly domains: ReadonlyMap<number, string>;
}

export class Tracer {
  /** True while any window is open (or a test turned it on): the one check hot paths make. */
  enabled = false;
  private readonly t0 = performance.now();
  private events: TraceEvent[] = [];
  private dropped = 0;
  private windows = 0;
  private nextFlow = 1;
  /** The vCPU whose hypercall is being served (synchronously) now, if any. */
  private caller?: { pid: number; tid: number };
  /** The latest child slice put inside the current hypercall: its span must not end before it. */
  private childEnd = 0;
  /** Every domain's name as it was created: a domain destroyed before the trace is written keeps its name. */
  private readonly names = new Map<number, string>();

  constructor(readonly limit = 1_000_000) {}

  /** Now, in whole ns since the tracer started. */
  now(): number {
    return Math.round((performance.now() - this.t0) * 1e6);
  }

  /** Remembers a new domain's name (called at domain creation, traced or not: it is not a hot path). */
  nameDomain(domid: number, name: string): void {
    this.names.set(domid, name);
  }

  /** Opens a recording window: the tracer is on until every open window is closed. */
  start(): Recording {
    this.windows++;
    this.enabled = true;
    return { from: this.events.length, droppedBefore: this.dropped };
  }

  /** Closes `w` and hands over what it recorded; the last window to close empties the buffer. */
  stop(w: Recording): Recorded {
    const recorded: Recorded = {
      events: this.events.slice(w.from),
      dropped: this.dropped - w.droppedBefore,
      limit: this.limit,
      domains: new Map(this.names),
    };
    this.windows = Math.max(0, this.windows - 1);
    if (this.windows === 0) {
      this.enabled = false;
      this.events = [];
      this.dropped = 0;
    }
    return recorded;
  }

  /** Everything recorded so far, without closing anything (tests that set `enabled` themselves). */
  snapshot(): Recorded {
    return {
      events: [...this.events],
      dropped: this.dropped,
      limit: this.limit,
      domains: new Map(this.names),
    };
  }

  /** Marks the start of a hypercall of `pid`'s vCPU `tid`: flows made while it runs begin or end in it. */
  enterCall(pid: number, tid: number): void {
    this.caller = { pid, tid };
    this.childEnd = 0;
  }

  /**
   * The synchronous part of the hypercall is over (an async one goes on without a caller mark).
   * Returns the end of the latest flow slice put inside it: its span must not end before that.
   */
  leaveCall(): number {
    this.caller = undefined;
    return this.childEnd;
  }

  /** The vCPU of `pid` now in a hypercall, or vCPU 0 when `pid` is not the one calling. */
  callerTid(pid: number): number {
    return this.caller?.pid === pid ? this.caller.tid : 0;
  }

  /** A finished span that began at `startNs` (a hypercall from trap to result). */
  span(
    cat: string,
    name: string,
    pid: number,
    tid: number,
    startNs: number,
    args?: Record<string, unknown>,
    minEndNs = 0,
  ): void {
    if (!this.enabled) return;
    if (!this.room(1)) return;
    const dur = Math.max(0, Math.max(this.now(), minEndNs) - startNs);
    this.events.push(
      args ? { name, cat, ts: startNs, dur, pid, tid, args } : { name, cat, ts: startNs, dur, pid, tid },
    );
  }

  /**
   * A flow from `from` to `to`: two zero-length slices bound by one id, `to`'s one nanosecond after
   * `from`'s so that every viewer meets the start before the end. An end on the calling vCPU lies
   * inside its hypercall's span, which is stretched to cover it.
   */
  flow(cat: string, from: FlowEnd, to: FlowEnd): void {
    if (!this.enabled || !this.room(2)) return;
    const t = this.now();
    const id = this.nextFlow++;
    this.events.push(this.end(cat, from, t, id, "out"), this.end(cat, to, t + 1, id, "in"));
    if (this.caller) this.childEnd = t + 2; // strictly after the last child: it stays inside
  }

  private end(cat: string, e: FlowEnd, ts: number, bindId: number, flow: "out" | "in"): TraceEvent {
    const base = { name: e.name, cat, ts, dur: 0, pid: e.pid, tid: e.tid, bindId, flow };
    return e.args ? { ...base, args: e.args } : base;
  }

  /** Whether `n` more events fit under the limit; counts them as dropped when not. */
  private room(n: number): boolean {
    if (this.events.length + n <= this.limit) return true;
    this.dropped += n;
    return false;
  }
}
