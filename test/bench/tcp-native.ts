/**
 * `pnpm bench tcp`'s baseline: the host's own TCP over loopback doing what the two guests do, in
 * two processes as the guests are two cells. This process is the client; a child (this file, forked
 * with tsx) is the server: a node:net sink for the bulk transfer, timed the same way (first byte to
 * FIN), and a node:http server answering GETs with the same page. The client is node:http with a
 * keep-alive Agent of C sockets, driven by the same loops as the client guest's HttpClient
 * (test/guests/tcp-bench-http.ts): both sides are a whole HTTP/1.1 server and client over TCP.
 */
import { fork } from "node:child_process";
import { once } from "node:events";
import { Agent, createServer as createHttpServer, get as httpGet } from "node:http";
import { connect, createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { BULK_CHUNK } from "../guests/tcp-bench.ts";
import { getLoops, HTTP_BODY, type HttpRun } from "../guests/tcp-bench-http.ts";
import { cpuOf, processTree } from "./proc-stats.ts";

export interface TcpBenchOptions {
  /** Bulk transfers, and HTTP runs, each. */
  runs: number;
  /** MiB per bulk transfer. */
  mib: number;
  /** Keep-alive connections making GETs at once. */
  conns: number;
  /** GETs per HTTP run, between all the connections. */
  requests: number;
  /** The unmeasured warm-up first (V8 compiles the hot paths): one transfer of this many MiB... */
  warmupMib: number;
  /** ...and this many GETs. */
  warmupRequests: number;
}

export type { HttpRun };

export interface TcpBenchResult {
  bulk: { ms: number; bytes: number }[];
  http: HttpRun[];
  /** CPU time of this process and its children over all the bulk runs... */
  bulkCpuSeconds: number;
  /** ...and over all the HTTP runs. */
  httpCpuSeconds: number;
  /** Frames dom0's netback dropped for want of rx buffers, over the whole run (guests only). */
  framesDropped?: number;
  /** The client guest's stack counters (guests only). */
  stats?: { counters: Record<string, number>; dropped: Record<string, number> };
}

type FromServer = { t: "ports"; bulk: number; http: number } | { t: "bulk"; ms: number; bytes: number };

/** The server's side, in the forked child: report ports, then each bulk transfer's time. */
async function serve(): Promise<void> {
  const send = (m: FromServer) => process.send!(m);
  const bulk = createServer((s) => {
    let bytes = 0;
    let t0 = 0;
    s.on("data", (chunk: Buffer) => {
      if (bytes === 0) t0 = performance.now();
      bytes += chunk.length;
    });
    s.on("end", () => {
      send({ t: "bulk", ms: performance.now() - t0, bytes });
      s.end();
    });
  });
  const http = createHttpServer((_req, res) => {
    res.writeHead(200, { "Content-Type": "text/html", "Content-Length": HTTP_BODY.length });
    res.end(HTTP_BODY);
  });
  bulk.listen(0, "127.0.0.1");
  http.listen(0, "127.0.0.1");
  await Promise.all([once(bulk, "listening"), once(http, "listening")]);
  const port = (s: { address(): unknown }) => (s.address() as { port: number }).port;
  send({ t: "ports", bulk: port(bulk), http: port(http) });
  process.on("disconnect", () => process.exit(0));
}

/** Bulk then HTTP over loopback, as tcp-bench.ts's client does between guests. */
export async function benchTcpNative(o: TcpBenchOptions): Promise<TcpBenchResult> {
  const child = fork(fileURLToPath(import.meta.url), ["serve"], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  let onMessage: (m: FromServer) => void = () => {};
  child.on("message", (m: FromServer) => onMessage(m));
  const exited = once(child, "exit").then(() => {
    throw new Error("the loopback server ended before the bench did");
  });
  exited.catch(() => {});
  /** The server's next message of kind `t` (or the server's end, as an error). */
  const next = <T extends FromServer["t"]>(t: T) =>
    Promise.race([
      new Promise<Extract<FromServer, { t: T }>>((r) => (onMessage = (m) => m.t === t && r(m as never))),
      exited,
    ]);
  try {
    const { bulk, http } = await next("ports");
    const chunk = Buffer.from(new Uint8Array(BULK_CHUNK).map((_, i) => i & 0xff));
    /** One transfer as the guest makes it: the server's report of it. */
    const bulkRun = async (mib: number) => {
      const reported = next("bulk");
      const s = connect(bulk, "127.0.0.1");
      await once(s, "connect");
      for (let sent = 0; sent < mib * 1024 * 1024; sent += chunk.length) {
        if (!s.write(chunk)) await once(s, "drain");
      }
      s.end();
      s.resume();
      await once(s, "close"); // the server closes once it has read everything
      const { ms, bytes } = await reported;
      return { ms, bytes };
    };
    const httpRun = async (requests: number): Promise<HttpRun> => {
      const agent = new Agent({ keepAlive: true, maxSockets: o.conns });
      const get = () =>
        new Promise<void>((resolve, reject) => {
          httpGet({ host: "127.0.0.1", port: http, path: "/", agent }, (res) => {
            let n = 0;
            res.on("data", (b: Buffer) => (n += b.length));
            res.on("end", () =>
              res.statusCode === 200 && n === HTTP_BODY.length
                ? resolve()
                : reject(new Error(`GET: ${res.statusCode} with ${n} bytes`)),
            );
          }).on("error", reject);
        });
      try {
        return await getLoops(get, () => performance.now(), o.conns, requests);
      } finally {
        agent.destroy();
      }
    };

    // The same warm-up as the guests', unmeasured.
    await bulkRun(o.warmupMib);
    await httpRun(o.warmupRequests);
    const result: TcpBenchResult = { bulk: [], http: [], bulkCpuSeconds: 0, httpCpuSeconds: 0 };
    const before = cpuOf(processTree());
    for (let r = 0; r < o.runs; r++) result.bulk.push(await bulkRun(o.mib));
    result.bulkCpuSeconds = cpuOf(processTree()).cpuSeconds - before.cpuSeconds;
    const httpBefore = cpuOf(processTree());
    for (let r = 0; r < o.runs; r++) result.http.push(await httpRun(o.requests));
    result.httpCpuSeconds = cpuOf(processTree()).cpuSeconds - httpBefore.cpuSeconds;
    return result;
  } finally {
    child.disconnect();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === "serve" && process.send) {
  await serve();
}
