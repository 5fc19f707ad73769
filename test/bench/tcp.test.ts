/**
 * `pnpm bench tcp`, small: the GET loops both sides of the comparison share, then two real guests and
 * the loopback baseline through the code path the bench takes, with a few MiB and a few hundred GETs.
 * Every bulk run must have carried every byte sent, and every GET must have been answered with the
 * whole page (the loops throw otherwise).
 */
import { describe, expect, it } from "vitest";
import { parseBenchArgs } from "./args.ts";
import { benchTcpGuests, tcpOptions, tcpRows } from "./tcp.ts";
import { benchTcpNative } from "./tcp-native.ts";
import { getLoops } from "../guests/tcp-bench-http.ts";

describe("pnpm bench tcp", () => {
  it("is a benchmark of its own and of every run, smaller with --quick", () => {
    expect(parseBenchArgs(["tcp"]).names).toEqual(["tcp"]);
    expect(parseBenchArgs([]).names).toContain("tcp");
    expect(tcpOptions(true)).toMatchObject({ mib: 16, runs: 3 });
    expect(tcpOptions(false)).toMatchObject({ mib: 256, runs: 5 });
  });

  it("makes exactly the requests asked for, never more at once than its connections", async () => {
    let inFlight = 0;
    let most = 0;
    let calls = 0;
    let clock = 0;
    const get = async () => {
      calls++;
      most = Math.max(most, ++inFlight);
      for (let i = calls % 3; i >= 0; i--) await Promise.resolve(); // answers come back unevenly
      clock += 1;
      inFlight--;
    };
    const run = await getLoops(get, () => clock, 8, 101);
    expect(calls).toBe(8 + 101); // one unmeasured GET per connection first
    expect(run.requests).toBe(101);
    expect(most).toBe(8);
    expect(run.p99).toBeGreaterThanOrEqual(run.p50);
  });

  it("moves every byte between two guests and over loopback, and answers every GET", async () => {
    const o = { runs: 1, mib: 4, conns: 4, requests: 200, warmupMib: 1, warmupRequests: 50 };
    const guests = await benchTcpGuests(o);
    const native = await benchTcpNative(o);
    for (const r of [guests, native]) {
      expect(r.bulk.map((b) => b.bytes)).toEqual([4 << 20]);
      expect(r.http.map((h) => h.requests)).toEqual([200]);
      expect(r.http[0]!.p99).toBeGreaterThanOrEqual(r.http[0]!.p50);
    }
    // The client guest's stack saw its bytes acknowledged: 4 MiB, plus the warm-up and the GETs.
    expect(guests.stats?.counters["tcp.bytes-acked"]).toBeGreaterThan(4 << 20);
    const rows = tcpRows(o, guests, native);
    for (const row of rows) {
      // CPU is read from /proc in clock ticks (10 ms): loopback moving 4 MiB may not spend one.
      const least = row.metric.includes("CPU") ? 0 : Number.MIN_VALUE;
      expect(row.median, row.metric).toBeGreaterThan(0);
      expect(row.baseline?.median, row.metric).toBeGreaterThanOrEqual(least);
    }
  }, 120_000);
});
