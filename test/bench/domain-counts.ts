/**
 * Each domain's hypercall and event-send counters, read through the control socket's `stats`
 * (PVKIT_OP_domain_stats, as `pvkit top` reads them): what the block and network benches report
 * per read and per frame.
 */

export interface DomainCounts {
  hypercalls: number;
  events: number;
}

/** A control request as the bench holds it (a ControlClient's, or a BenchHost's). */
export type StatsRequest = (req: { op: "stats" }) => Promise<unknown>;

/** The counters of `domids` now, in that order (zeros for a domain that is gone). */
export async function domainCounts(request: StatsRequest, domids: number[]): Promise<DomainCounts[]> {
  const all = (await request({ op: "stats" })) as (DomainCounts & { domid: number })[];
  return domids.map((id) => {
    const d = all.find((s) => s.domid === id);
    return { hypercalls: d?.hypercalls ?? 0, events: d?.events ?? 0 };
  });
}

/** How far each domain's counters moved from `before` to `after` (two domainCounts readings). */
export function countsSince(before: DomainCounts[], after: DomainCounts[]): DomainCounts[] {
  return after.map((a, i) => ({
    hypercalls: a.hypercalls - before[i]!.hypercalls,
    events: a.events - before[i]!.events,
  }));
}
