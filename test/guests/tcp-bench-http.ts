/**
 * The HTTP half of `pnpm bench tcp`, shared by the client guest (test/guests/tcp-bench.ts) and the
 * host's loopback baseline (test/bench/tcp-native.ts), so both sides of the comparison load their
 * server the same way: C connections, each making one GET at a time (the next once the last
 * response is all in, as wrk does), until R requests have been made between them.
 */

/** The page both servers answer with (the guest's serveHttp and the host's node:http). */
export const HTTP_BODY = "<!doctype html><title>pvkit</title><p>Hello from a guest.</p>\n";

/**
 * One whole GET of the page from `client` (the guest kernel's HttpClient), failing unless it is
 * the page: what each of getLoops' loops calls.
 */
export function pageGet(
  client: { get(url: string): Promise<{ status: number; body: { length: number } }> },
  url: string,
): () => Promise<void> {
  return async () => {
    const r = await client.get(url);
    if (r.status !== 200 || r.body.length !== HTTP_BODY.length)
      throw new Error(`GET ${url}: ${r.status} with ${r.body.length} bytes`);
  };
}

export interface HttpRun {
  ms: number;
  requests: number;
  /** Latency percentiles of the run's requests, in ms. */
  p50: number;
  p99: number;
}

/**
 * `conns` loops calling `get` (one whole GET, response body read, on a kept-alive connection)
 * until `requests` GETs are made between them. First one unmeasured GET per loop, all at once, so
 * the client has opened its `conns` connections before the clock starts.
 */
export async function getLoops(
  get: () => Promise<void>,
  now: () => number,
  conns: number,
  requests: number,
): Promise<HttpRun> {
  await Promise.all(Array.from({ length: conns }, get));
  const latencies: number[] = [];
  let left = requests;
  const loop = async () => {
    while (left > 0) {
      left--; // taken before the await, so the loops never make more than `requests` between them
      const t = now();
      await get();
      latencies.push(now() - t);
    }
  };
  const t0 = now();
  await Promise.all(Array.from({ length: conns }, loop));
  const ms = now() - t0;
  return {
    ms,
    requests: latencies.length,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
  };
}

/** The `q` quantile (0..1) of `xs`, nearest rank. */
export function percentile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(s.length * q))]!;
}
