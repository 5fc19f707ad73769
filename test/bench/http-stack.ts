/**
 * The guest kernel's HTTP over its TCP alone, for profiling: `pnpm bench tcp`'s HTTP half — a
 * serveHttp server, an HttpClient with 8 kept-alive connections and the same 8 loops of GETs
 * (test/guests/tcp-bench-http.ts) — on two IPv4 stacks joined by the TCP tests' in-memory wire
 * (guest-kernel/test/helpers/tcp-wire.ts), in this one process: no domains, rings, events or
 * wake-ups. What is left is what both ends' stacks and HTTP cost per GET, to set against what a GET
 * costs between two guests (docs/network.md, "Where a GET's time goes"):
 *
 *   npx tsx test/bench/http-stack.ts [runs] [GETs per run]      # default 6 runs of 20000
 *   node --cpu-prof --import tsx test/bench/http-stack.ts
 *
 * It runs with the V8 flags of every pvkit process (hypervisor/src/realm/v8-flags.ts) and prints each
 * run's requests a second and the process's CPU per GET. The first runs are V8 still compiling.
 */
import { setProcessV8Flags } from "@pvkit/hypervisor/realm/v8-flags";
import { tcpWire } from "../../guest-kernel/test/helpers/tcp-wire.ts";
import { HttpClient, html, serveHttp } from "@pvkit/guest-kernel/net/http/index";
import { getLoops, HTTP_BODY, pageGet } from "../guests/tcp-bench-http.ts";
import { HTTP_PORT } from "../guests/tcp-bench.ts";

setProcessV8Flags();
const runs = Number(process.argv[2] ?? 6);
const requests = Number(process.argv[3] ?? 20_000);
const CONNS = 8;
const { a, b } = tcpWire();
serveHttp(await b.tcp.listen(HTTP_PORT), () => html(HTTP_BODY));
const url = `http://10.0.0.2:${HTTP_PORT}/`;
for (let r = 0; r < runs; r++) {
  const client = new HttpClient({ net: { connect: (host, port) => a.tcp.connect(host, port) } });
  const cpu0 = process.cpuUsage();
  const run = await getLoops(pageGet(client, url), () => performance.now(), CONNS, requests);
  const cpu = process.cpuUsage(cpu0);
  client.close();
  console.log(
    `run ${r + 1}: ${Math.round(run.requests / (run.ms / 1000))} GETs/s, ` +
      `${((cpu.user + cpu.system) / run.requests).toFixed(1)} µs of CPU per GET (both ends)`,
  );
}
process.exit(0);
