/**
 * One of two guests for `pnpm bench tcp` (test/bench/tcp.ts), both on the guest kernel's TCP
 * (k.net.listen/connect) through dom0's bridge, with addresses from the vifs' `ip=`.
 *
 * `role=server` listens on two ports. BULK_PORT is a sink: each connection is read to its FIN,
 * timed from the first byte to the FIN, printed as `{"phase":"bulk","ms":…,"bytes":…}`, and then
 * closed from this side too (the client waits for that, so runs never overlap). HTTP_PORT is the
 * guest kernel's HTTP/1.1 server (serveHttp) answering every GET with the same small page, keeping
 * connections open (HTTP/1.1 keep-alive).
 *
 * `role=client peer=<ip>` first warms both paths up unmeasured (`warm-mib=M` MiB down one
 * connection, `warm-requests=W` GETs: V8 compiles the hot code of both guests), prints ready and
 * waits for the host to write data/go-bulk (so the host can read the CPU counters first), sends
 * `mib=N` MiB down one connection `runs=R` times, prints bulk-done and waits for data/go-http; then `runs` times an HttpClient (the kernel's, keeping `conns=C` connections
 * alive) makes `requests=Q` GETs from C loops, one at a time each (like wrk), printing each run's
 * requests per second and latency percentiles (`{"phase":"http",…}`), and finally
 * `{"phase":"done",…}` with the stack's counters.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import type { TcpSocket } from "@pvkit/guest-kernel/net/stack/api";
import { HttpClient, html, serveHttp } from "@pvkit/guest-kernel/net/http/index";
import { getLoops, HTTP_BODY, pageGet } from "./tcp-bench-http.ts";

export const BULK_PORT = 5001;
export const HTTP_PORT = 8080;
/** The size of each write of the bulk transfer (the native baseline writes the same). */
export const BULK_CHUNK = 256 * 1024;

export default async function main(k: KernelHandle): Promise<void> {
  try {
    await run(k);
  } catch (e) {
    // One line the host's bench reads and stops on, rather than waiting on a guest that gave up.
    k.print(JSON.stringify({ phase: "error", message: e instanceof Error ? e.message : String(e) }));
  }
}

async function run(k: KernelHandle): Promise<void> {
  const arg = (name: string) => new RegExp(`(?:^|\\s)${name}=(\\S+)`).exec(k.cmdline)?.[1];
  const out = (o: Record<string, unknown>) => k.print(JSON.stringify(o));
  const ip = await k.net.ip();
  if (arg("role") === "server") {
    await serve(k, out);
    return;
  }
  const peer = arg("peer")!;
  const runs = Number(arg("runs") ?? "3");
  const mib = Number(arg("mib") ?? "32");
  const conns = Number(arg("conns") ?? "8");
  const requests = Number(arg("requests") ?? "10000");

  // The server may start after us: retry until its port answers (a refusal comes back at once).
  for (;;) {
    try {
      const s = await k.net.connect(peer, BULK_PORT);
      await s.end();
      await drain(s);
      break;
    } catch {
      await k.sleep(50);
    }
  }
  // Unmeasured first. The server does not report its first transfer, so this one must carry data.
  const chunk = new Uint8Array(BULK_CHUNK).map((_, i) => i & 0xff);
  await bulkRun(k, peer, chunk, Math.max(1, Number(arg("warm-mib") ?? "8")));
  await httpRun(k, peer, conns, Number(arg("warm-requests") ?? "1000"));
  out({ phase: "ready" });

  await goSignal(k, "data/go-bulk");
  for (let r = 0; r < runs; r++) await bulkRun(k, peer, chunk, mib);
  out({ phase: "bulk-done" });

  await goSignal(k, "data/go-http");
  for (let r = 0; r < runs; r++) out({ phase: "http", run: r, ...(await httpRun(k, peer, conns, requests)) });
  out({ phase: "done", stats: ip.stats() });
}

/** One connection, `mib` MiB down it in `chunk`-sized writes, then FIN; over once the server closes. */
async function bulkRun(k: KernelHandle, peer: string, chunk: Uint8Array, mib: number): Promise<void> {
  const s = await k.net.connect(peer, BULK_PORT);
  for (let sent = 0; sent < mib * 1024 * 1024; sent += chunk.length) await s.write(chunk);
  await s.end();
  await drain(s); // the server closes once it has read everything, so runs never overlap
}

/** One run of GETs from `conns` loops on as many kept-alive connections (tcp-bench-http.ts). */
async function httpRun(k: KernelHandle, peer: string, conns: number, requests: number) {
  const client = new HttpClient(k, { maxIdlePerHost: conns });
  const url = `http://${peer}:${HTTP_PORT}/`;
  try {
    return await getLoops(pageGet(client, url), () => k.time.uptimeMs(), conns, requests);
  } finally {
    client.close();
  }
}

/** Reads `s` to its end, dropping what comes. */
async function drain(s: TcpSocket): Promise<void> {
  while ((await s.read()) !== null);
}

/** Resolves once the host has written something to `path` (this domain's xenstore). */
function goSignal(k: KernelHandle, path: string): Promise<void> {
  return new Promise<void>((go) => {
    void k.xenstore.watch(path, () => void k.xenstore.tryRead(path).then((v) => v && go()));
  });
}

/** The server: the bulk sink and the HTTP responder, each connection served on its own. */
async function serve(k: KernelHandle, out: (o: Record<string, unknown>) => void): Promise<void> {
  const bulk = await k.net.listen(BULK_PORT);
  serveHttp(await k.net.listen(HTTP_PORT), () => html(HTTP_BODY), { time: k.time });
  let transfers = 0;
  out({ phase: "listening" });
  for await (const s of bulk) {
    void (async () => {
      let bytes = 0;
      let t0 = 0;
      for await (const chunk of s) {
        if (bytes === 0) t0 = k.time.uptimeMs();
        bytes += chunk.length;
      }
      const ms = k.time.uptimeMs() - t0;
      await s.end();
      if (bytes > 0 && transfers++ > 0) out({ phase: "bulk", ms, bytes }); // the first: warm-up
    })().catch(() => s.destroy());
  }
}
