/**
 * The CLI's side of the host control protocol (abi/src/toolstack-protocol.ts): one connection, requests
 * matched to responses by id. A host that is not running is reported in one line, never a stack trace.
 */
import { connect, type Socket } from "node:net";
import { fsReason } from "./fs-reason.ts";
import {
  LineSplitter,
  type ControlRequest,
  type ControlResponse,
  type CreateProgress,
} from "@pvkit/abi/toolstack-protocol";

type Body<R> = R extends unknown ? Omit<R, "id"> : never;

export class CliError extends Error {}

/**
 * Why a host's socket (`socket`, beside its control socket `control`) could not be reached, in words:
 * no host is running there, or the socket's own failure.
 */
export function unreachable(control: string, socket: string, e: NodeJS.ErrnoException): string {
  return e.code === "ENOENT" || e.code === "ECONNREFUSED"
    ? `no host running at ${control} (start one with \`pnpm pvkit up\`)`
    : `${socket}: ${fsReason(e)}`;
}

export class ControlClient {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; progress?: (p: CreateProgress) => void }
  >();
  private readonly lines = new LineSplitter();
  /** Set once a `console` request succeeds: raw bytes go here instead of the JSON parser. */
  private raw?: (chunk: Buffer) => void;
  /** A `console` request is out: the line answering it is the last JSON on this connection. */
  private consoleRequested = false;
  /** Console bytes that arrived before rawMode() was called. */
  private backlog: Buffer[] = [];
  private rawNow = false;

  private constructor(
    readonly path: string,
    readonly socket: Socket,
  ) {
    socket.on("data", (chunk: Buffer) => {
      if (this.rawNow) return this.raw ? this.raw(chunk) : void this.backlog.push(chunk);
      if (this.consoleRequested) {
        // Only the first line is JSON (the answer); everything after it is the guest's console.
        const nl = chunk.indexOf(0x0a);
        if (nl < 0) return void this.lines.push(chunk.toString("utf8"));
        const [line] = this.lines.push(chunk.subarray(0, nl + 1).toString("utf8"));
        this.rawNow = true;
        if (nl + 1 < chunk.length) this.backlog.push(chunk.subarray(nl + 1));
        if (line) this.onLine(line);
        return;
      }
      for (const line of this.lines.push(chunk.toString("utf8"))) this.onLine(line);
    });
    socket.on("close", () => {
      for (const p of this.pending.values())
        p.reject(new CliError(`pvkit: the host at ${path} closed the connection`));
      this.pending.clear();
    });
  }

  static open(path: string): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once("connect", () => resolve(new ControlClient(path, s)));
      s.once("error", (e: NodeJS.ErrnoException) =>
        reject(new CliError(`pvkit: ${unreachable(path, path, e)}`)),
      );
    });
  }

  private onLine(line: string) {
    let msg: ControlResponse;
    try {
      msg = JSON.parse(line) as ControlResponse;
    } catch {
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    if ("progress" in msg) return void p.progress?.(msg.progress); // the answer is still to come
    this.pending.delete(msg.id);
    if ("error" in msg) p.reject(new CliError(`pvkit: ${msg.error}`));
    else p.resolve(msg.result);
  }

  /** Sends `body`; `progress` hears the steps a long request (create) reports before its answer. */
  request<T = unknown>(body: Body<ControlRequest>, progress?: (p: CreateProgress) => void): Promise<T> {
    const id = this.nextId++;
    if (body.op === "console") this.consoleRequested = true;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, {
        resolve: resolve as (v: unknown) => void,
        reject,
        ...(progress ? { progress } : {}),
      });
      this.socket.write(JSON.stringify({ id, ...body }) + "\n");
    });
  }

  /** Switches to raw mode after a console request: returns bytes that arrived after the response. */
  rawMode(onData: (chunk: Buffer) => void): void {
    this.raw = onData;
    this.rawNow = true;
    for (const b of this.backlog.splice(0)) onData(b);
  }

  close(): void {
    this.socket.end();
  }
}
