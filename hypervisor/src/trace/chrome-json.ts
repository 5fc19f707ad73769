/**
 * A recording in Chrome's JSON trace format (the "JSON Object Format" of the Trace Event Format), the
 * one ui.perfetto.dev and chrome://tracing open:
 *
 *   {"traceEvents": [...], "displayTimeUnit": "ns", "metadata": {...}}
 *
 * - Metadata events ("ph": "M") name each domain's process `<name> (dom<id>)`, order them by domid
 *   and name each vCPU's thread `vcpu<N>`.
 * - Every recorded event is a complete slice ("ph": "X") with `ts` and `dur` in µs (three decimals:
 *   the tracer's whole nanoseconds, so nesting survives the viewer's rounding).
 * - A flow's two ends carry the same `bind_id`, one with `flow_out: true`, the other `flow_in: true`
 *   (the Trace Event Format's flow events v2: the arrow is bound to these very slices, with no
 *   guessing about which slice encloses a timestamp).
 *
 * The text is produced in chunks, so a million events are written without one string of 200 MB.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import type { Recorded, TraceEvent } from "./tracer.ts";

/** How many events go into one chunk of text. */
const CHUNK = 2000;

/** The trace as pieces of JSON text, in order. */
export function* chromeTraceChunks(r: Recorded): Generator<string> {
  yield '{"traceEvents":[\n';
  const meta = metadataEvents(r).map((m) => JSON.stringify(m));
  yield meta.join(",\n");
  // In time order, a parent before the children that start with it: the order viewers nest in.
  // (Recorded order is by end: a span is recorded when its hypercall returns.)
  const events = [...r.events].sort((a, b) => a.ts - b.ts || b.dur - a.dur);
  for (let i = 0; i < events.length; i += CHUNK) {
    const part = events.slice(i, i + CHUNK).map((e) => JSON.stringify(chromeEvent(e)));
    yield (meta.length > 0 || i > 0 ? ",\n" : "") + part.join(",\n");
  }
  const c = traceCounts(r);
  const info = { source: "pvkit", events: c.events, droppedEvents: c.dropped, eventLimit: c.limit };
  yield `\n],"displayTimeUnit":"ns","metadata":${JSON.stringify(info)}}\n`;
}

/** The whole trace as one object (tests, small traces). */
export function chromeTrace(r: Recorded): { traceEvents: Record<string, unknown>[] } {
  return JSON.parse([...chromeTraceChunks(r)].join("")) as { traceEvents: Record<string, unknown>[] };
}

/** Writes the trace to `path` chunk by chunk. Throws what the file system throws. */
export function writeChromeTraceFile(path: string, r: Recorded): void {
  const fd = openSync(path, "w");
  try {
    for (const chunk of chromeTraceChunks(r)) writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
}

/** The one line pvkit prints about a written trace, saying if the event limit cut it short. */
export function traceSummary(c: { events: number; dropped: number; limit: number }, where: string): string {
  const cut =
    c.dropped > 0 ? ` (the limit of ${c.limit} events was reached: ${c.dropped} more were dropped)` : "";
  return `trace: ${c.events} event${c.events === 1 ? "" : "s"} written to ${where}${cut}`;
}

/** The counts traceSummary reports, of a recording. */
export function traceCounts(r: Recorded): { events: number; dropped: number; limit: number } {
  return { events: r.events.length, dropped: r.dropped, limit: r.limit };
}

/** The process name a domain gets in a trace. */
export function processName(domid: number, name: string | undefined): string {
  return name ? `${name} (dom${domid})` : `dom${domid}`;
}

function metadataEvents(r: Recorded): object[] {
  const threads = new Map<number, Set<number>>();
  for (const e of r.events) {
    let t = threads.get(e.pid);
    if (!t) threads.set(e.pid, (t = new Set()));
    t.add(e.tid);
  }
  const out: object[] = [];
  for (const pid of [...threads.keys()].sort((a, b) => a - b)) {
    const name = processName(pid, r.domains.get(pid));
    out.push({ name: "process_name", ph: "M", pid, tid: 0, args: { name } });
    out.push({ name: "process_sort_index", ph: "M", pid, tid: 0, args: { sort_index: pid } });
    for (const tid of [...threads.get(pid)!].sort((a, b) => a - b))
      out.push({ name: "thread_name", ph: "M", pid, tid, args: { name: `vcpu${tid}` } });
  }
  return out;
}

function chromeEvent(e: TraceEvent): Record<string, unknown> {
  const c: Record<string, unknown> = {
    name: e.name,
    cat: e.cat,
    ph: "X",
    ts: e.ts / 1000,
    dur: e.dur / 1000,
    pid: e.pid,
    tid: e.tid,
  };
  if (e.args) c.args = e.args;
  if (e.bindId !== undefined) {
    c.bind_id = e.bindId;
    c[e.flow === "out" ? "flow_out" : "flow_in"] = true;
  }
  return c;
}
