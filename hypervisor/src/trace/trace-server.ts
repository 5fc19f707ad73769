/**
 * The host's trace socket: what `pvkit trace <seconds>` talks to on a running host.
 *
 * Why a socket of the host's own rather than a request to dom0's toolstack: what is recorded lives
 * in the hypervisor (it alone sees every hypercall, notification and grant op), and the host process
 * that runs the hypervisor can answer directly. The toolstack route would need a privileged
 * hypercall to start and stop recording and to copy the events out through dom0's bounce pages —
 * Xen's xentrace does that, mapping trace buffers into dom0 with sysctl tbuf_op — to carry many MiB
 * that dom0 adds nothing to. The socket sits beside the control socket in the run directory with the
 * same mode (0600), so whoever may operate the host at all may trace it, and nobody else.
 *
 * The protocol, one JSON object a line:
 *
 *   client: {"op":"record","seconds":N}       open a window of N seconds (0 < N <= maxSeconds)
 *   server: {"recording":{"seconds":N}}        the window is open
 *   client: {"op":"stop"}                      (optional) close it early
 *   server: {"done":{"events":n,"dropped":d,"limit":l}}
 *           then the Chrome JSON trace itself, and the server ends the connection.
 *   server: {"error":"<why>"}                  instead, for a bad request; then it ends the connection.
 *
 * A client that goes away while its window is open closes the window and gets nothing. Closing the
 * server (the host shutting down) finishes every open window early and sends what it recorded.
 */
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import { LineSplitter } from "@pvkit/abi/toolstack-protocol";
import { chromeTraceChunks, traceCounts } from "./chrome-json.ts";
import type { Recording, Tracer } from "./tracer.ts";

/** One client's window, from its `record` to the end of the trace it is sent. */
interface Session {
  /** Closes the window now and sends the trace; resolves once it is sent (or the client is gone). */
  finish(): Promise<void>;
}

export class TraceServer {
  private server?: Server;
  private path?: string;
  private readonly sessions = new Set<Session>();
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly tracer: Tracer,
    private readonly maxSeconds = 3600,
  ) {}

  async listen(path: string): Promise<void> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    try {
      if (lstatSync(path).isSocket()) unlinkSync(path); // a host that was killed left it
    } catch {
      /* none there */
    }
    const server = createServer((s) => this.serve(s));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => resolve());
    });
    chmodSync(path, 0o600);
    this.server = server;
    this.path = path;
  }

  private serve(sock: Socket): void {
    this.sockets.add(sock);
    const lines = new LineSplitter(4096);
    let window: Recording | undefined;
    let timer: NodeJS.Timeout | undefined;
    let sending: Promise<void> | undefined;
    const refuse = (why: string) => void sock.end(JSON.stringify({ error: why }) + "\n");

    const session: Session = {
      finish: () => {
        if (sending) return sending;
        clearTimeout(timer);
        const recorded = this.tracer.stop(window!);
        window = undefined;
        sock.write(JSON.stringify({ done: traceCounts(recorded) }) + "\n");
        sending = sendChunks(sock, chromeTraceChunks(recorded)).finally(() => this.sessions.delete(session));
        return sending;
      },
    };

    const onLine = (line: string) => {
      let req: { op?: unknown; seconds?: unknown };
      try {
        req = JSON.parse(line) as typeof req;
      } catch {
        return refuse("malformed request (expected one JSON object per line)");
      }
      if (req.op === "stop") return void (window && session.finish());
      if (req.op !== "record") return refuse(`unknown request "${String(req.op)}"`);
      if (window || sending) return refuse("this connection is already recording");
      const s = req.seconds;
      if (typeof s !== "number" || !Number.isFinite(s) || s <= 0 || s > this.maxSeconds)
        return refuse(`seconds must be a number above 0 and at most ${this.maxSeconds}`);
      window = this.tracer.start();
      this.sessions.add(session);
      timer = setTimeout(() => void session.finish(), s * 1000);
      sock.write(JSON.stringify({ recording: { seconds: s } }) + "\n");
    };

    sock.on("data", (chunk: Buffer) => {
      try {
        for (const line of lines.push(chunk.toString("utf8"))) onLine(line);
      } catch (e) {
        refuse(e instanceof Error ? e.message : String(e));
      }
    });
    sock.on("error", () => sock.destroy());
    sock.on("close", () => {
      this.sockets.delete(sock);
      // Gone before its trace was sent: close its window so the tracer can stop.
      if (window) {
        clearTimeout(timer);
        this.tracer.stop(window);
        window = undefined;
        this.sessions.delete(session);
      }
    });
  }

  /** Finishes every open window (each client gets what was recorded) and stops listening. */
  async close(): Promise<void> {
    // A client that stops reading must not hold the host's shutdown: it gets 10 s.
    const sent = Promise.all([...this.sessions].map((s) => s.finish()));
    let guard: NodeJS.Timeout | undefined;
    await Promise.race([sent, new Promise((r) => (guard = setTimeout(r, 10_000)))]);
    clearTimeout(guard);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    if (this.path) {
      try {
        unlinkSync(this.path);
      } catch {
        /* already gone */
      }
    }
  }
}

/** Writes `chunks` to `sock`, waiting for it to drain as it fills; then ends it. */
async function sendChunks(sock: Socket, chunks: Iterable<string>): Promise<void> {
  for (const chunk of chunks) {
    if (sock.destroyed) return;
    if (!sock.write(chunk)) await drainedOrClosed(sock);
  }
  await new Promise<void>((r) => {
    sock.once("close", () => r());
    sock.end();
  });
}

function drainedOrClosed(sock: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      sock.off("drain", done);
      sock.off("close", done);
      resolve();
    };
    sock.once("drain", done);
    sock.once("close", done);
  });
}
