/**
 * What a viewer needs of a pvkit trace to show all of it, checked: tests run it on real traces, so
 * a trace that Perfetto would silently cut short (a slice dropped for bad nesting, an arrow with no
 * end) fails a test instead of confusing a user.
 *
 * - every complete slice ("X") has a time, a non-negative duration and integer pid/tid;
 * - on each thread, slices nest: a slice that starts inside another ends inside it too (compared in
 *   whole nanoseconds, as Perfetto rounds µs timestamps);
 * - every flow id has exactly one start (flow_out) and one end (flow_in), the start first;
 * - every process and thread that has slices has a name.
 */

interface Ev {
  ph?: unknown;
  name?: unknown;
  ts?: unknown;
  dur?: unknown;
  pid?: unknown;
  tid?: unknown;
  bind_id?: unknown;
  flow_out?: unknown;
  flow_in?: unknown;
}

/** The problems found (none: the trace shows whole). */
export function traceProblems(trace: unknown): string[] {
  const events = (trace as { traceEvents?: unknown }).traceEvents;
  if (!Array.isArray(events)) return ["no traceEvents array"];
  const problems: string[] = [];
  const named = new Set<string>();
  const threads = new Map<string, { start: number; end: number; name: string }[]>();
  const flows = new Map<number, { out: number[]; in: number[] }>();
  for (const e of events as Ev[]) {
    if (e.ph === "M") {
      if (e.name === "process_name") named.add(`p${String(e.pid)}`);
      if (e.name === "thread_name") named.add(`t${String(e.pid)}/${String(e.tid)}`);
      continue;
    }
    if (e.ph !== "X") continue;
    const name = String(e.name);
    if (typeof e.ts !== "number" || typeof e.dur !== "number" || e.dur < 0)
      problems.push(`${name}: bad ts/dur`);
    if (!Number.isInteger(e.pid) || !Number.isInteger(e.tid)) problems.push(`${name}: bad pid/tid`);
    const start = Math.round(Number(e.ts) * 1000);
    const end = start + Math.round(Number(e.dur) * 1000);
    const key = `${String(e.pid)}/${String(e.tid)}`;
    threads.set(key, [...(threads.get(key) ?? []), { start, end, name }]);
    if (e.bind_id !== undefined) {
      const f = flows.get(Number(e.bind_id)) ?? { out: [], in: [] };
      if (e.flow_out === true) f.out.push(start);
      else if (e.flow_in === true) f.in.push(start);
      else problems.push(`${name}: bind_id ${String(e.bind_id)} without flow_out or flow_in`);
      flows.set(Number(e.bind_id), f);
    }
  }
  for (const [key, list] of threads) {
    const [pid] = key.split("/");
    if (!named.has(`p${pid}`)) problems.push(`process ${pid} has no name`);
    if (!named.has(`t${key}`)) problems.push(`thread ${key} has no name`);
    list.sort((a, b) => a.start - b.start || b.end - a.end);
    const open: { start: number; end: number; name: string }[] = [];
    for (const s of list) {
      while (open.length > 0 && open[open.length - 1]!.end <= s.start) open.pop();
      const parent = open[open.length - 1];
      if (parent && s.end > parent.end)
        problems.push(
          `thread ${key}: ${s.name} at ${s.start} ns overlaps ${parent.name} without nesting in it`,
        );
      open.push(s);
    }
  }
  for (const [id, f] of flows) {
    if (f.out.length !== 1 || f.in.length !== 1)
      problems.push(`flow ${id}: ${f.out.length} starts and ${f.in.length} ends (want one each)`);
    else if (f.out[0]! >= f.in[0]!) problems.push(`flow ${id}: ends before it starts`);
  }
  return problems;
}
