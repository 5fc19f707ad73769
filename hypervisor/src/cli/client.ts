/**
 * The CLI's side of the host control protocol (abi/src/toolstack-protocol.ts): one connection, requests
 * matched to responses by id. A host that is not running is reported in one line, never a stack trace.
 */
import { connect, type Socket } from "node:net";
import { LineSplitter, type ControlRequest, type ControlResponse } from "@pvkit/abi/toolstack-protocol";

type Body<R> = R extends unknown ? Omit<R, "id"> : never;

export class CliError extends Error {}

export class ControlClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly lines = new LineSplitter();
  /** Set once a `console` request succeeds: raw bytes go here instead of the JSON parser. */
  private raw?: (chunk: Buffer) => void;

  private constructor(
    readonly path: string,
    readonly socket: Socket,
  ) {
    socket.on("data", (chunk: Buffer) => {
      if (this.raw) return this.raw(chunk);
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
        reject(
          e.code === "ENOENT" || e.code === "ECONNREFUSED"
            ? new CliError(`pvkit: no host running at ${path} (start one with \`pnpm pvkit up\`)`)
            : new CliError(`pvkit: ${path}: ${e.message}`),
        ),
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
    this.pending.delete(msg.id);
    if ("error" in msg) p.reject(new CliError(`pvkit: ${msg.error}`));
    else p.resolve(msg.result);
  }

  request<T = unknown>(body: Body<ControlRequest>): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.socket.write(JSON.stringify({ id, ...body }) + "\n");
    });
  }

  /** Switches to raw mode after a console request: returns bytes that arrived after the response. */
  rawMode(onData: (chunk: Buffer) => void): void {
    this.raw = onData;
    const rest = this.lines.rest();
    if (rest.length > 0) onData(Buffer.from(rest, "utf8"));
  }

  close(): void {
    this.socket.end();
  }
}
