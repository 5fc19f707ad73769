/**
 * The client side of the HTTP e2e tests: a guest that fetches `url=` from its command line
 * `count=` times (100) with one HttpClient, so over one kept-alive connection when the server allows
 * it, and prints one JSON line with `"phase":"done"`: how many answers were 200, the statuses, the
 * connections it opened, the distinct bodies it got (a page whose text changes each time, such as
 * the example's uptime, counts its `<h1>` instead), the time taken and requests per second.
 * With `stats=PATH` it then fetches that path on the same server too and reports its JSON (the
 * example server's /stats: how many connections the server saw). It stays up afterwards.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import { HttpClient, parseHttpUrl } from "@pvkit/guest-kernel/net/http/index";

const arg = (k: KernelHandle, name: string) => new RegExp(`(?:^|\\s)${name}=(\\S+)`).exec(k.cmdline)?.[1];

export default async function main(k: KernelHandle): Promise<void> {
  const url = arg(k, "url") ?? "http://10.0.0.80/";
  const count = Number(arg(k, "count") ?? 100);
  const statsPath = arg(k, "stats");
  const ip = await k.net.ip();
  k.print(`http-client: ${ip.address} fetching ${url} ${count} times`);
  const client = new HttpClient(k);
  const statuses: Record<string, number> = {};
  const bodies = new Map<string, number>();
  let ok = 0;
  let bytes = 0;
  let sample = "";
  const started = k.time.uptimeMs();
  for (let i = 0; i < count; i++) {
    const r = await client.get(url);
    statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    if (r.status === 200) ok++;
    bytes += r.body.length;
    const text = r.text();
    if (i === 0) sample = text;
    const key = /<h1>(.*?)<\/h1>/.exec(text)?.[1] ?? text;
    bodies.set(key, (bodies.get(key) ?? 0) + 1);
  }
  const ms = k.time.uptimeMs() - started;
  let server: unknown;
  if (statsPath) {
    const u = parseHttpUrl(url);
    server = (await client.get(`http://${u.authority}${statsPath}`)).json();
  }
  const report = {
    phase: "done",
    url,
    count,
    ok,
    statuses,
    bytes,
    ...client.stats(),
    bodies: Object.fromEntries(bodies),
    sample: sample.slice(0, 800),
    ms: Math.round(ms),
    perSecond: Math.round((count * 1000) / Math.max(ms, 1)),
    server,
  };
  client.close();
  k.print(JSON.stringify(report));
  await new Promise<never>(() => {}); // stays up: the test reads its console, then destroys it
}
