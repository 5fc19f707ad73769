/**
 * `pvkit trace <seconds> [-o file]`: record a running host for that long and write the trace (Chrome
 * JSON, for ui.perfetto.dev) to a file — `pvkit-trace-<timestamp>.json` in the current directory
 * unless -o says where. Ctrl-C ends the recording early and still writes what was recorded.
 *
 * It talks to the host's trace socket beside the control socket (trace/trace-server.ts says why
 * that one, and its protocol). The trace streams straight into the file; only the two header lines
 * are parsed. Every failure is one line, `pvkit: trace: <why>`, and leaves no partial file.
 */
import { closeSync, openSync, unlinkSync, writeSync } from "node:fs";
import { connect, type Socket } from "node:net";
import type { Command } from "commander";
import { traceSummary } from "../trace/chrome-json.ts";
import { CliError, unreachable } from "./client.ts";
import { fsReason } from "./fs-reason.ts";
import { traceSocket } from "./paths.ts";

/** The longest recording asked for at once (the host refuses longer ones too). */
const MAX_SECONDS = 3600;

export function registerTraceCommand(program: Command, controlSocket: () => string): void {
  program
    .command("trace <seconds>")
    .description("record the running host for <seconds> and write a Perfetto trace (see docs/tracing.md)")
    .option("-o, --output <file>", "where to write it (default: pvkit-trace-<timestamp>.json here)")
    .action(async (seconds: string, opts: { output?: string }) => {
      const s = parseSeconds(seconds);
      const file = opts.output ?? defaultTraceName(new Date());
      console.log(await recordTrace(controlSocket(), s, file));
    });
}

function fail(why: string): CliError {
  return new CliError(`pvkit: trace: ${why}`);
}

/** A positive number of seconds, at most MAX_SECONDS. */
export function parseSeconds(text: string): number {
  const n = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(n > 0)) throw fail(`"${text}" is not a number of seconds`);
  if (n > MAX_SECONDS)
    throw fail(`${text} s is longer than the most one recording may take (${MAX_SECONDS} s)`);
  return n;
}

/** pvkit-trace-20250131-235959.json, local time. */
export function defaultTraceName(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  const day = `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}`;
  return `pvkit-trace-${day}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}.json`;
}

/** Header lines the host sends before the trace itself. */
interface Header {
  recording?: { seconds: number };
  done?: { events: number; dropped: number; limit: number };
  error?: string;
}

/** Records `seconds` from the host whose control socket is `control` into `file`; returns the summary line. */
export async function recordTrace(control: string, seconds: number, file: string): Promise<string> {
  let fd: number;
  try {
    fd = openSync(file, "w");
  } catch (e) {
    throw fail(`cannot write ${file}: ${fsReason(e)}`);
  }
  try {
    const done = await receive(control, seconds, (bytes) => writeSync(fd, bytes));
    closeSync(fd);
    return traceSummary(done, file);
  } catch (e) {
    closeSync(fd);
    unlinkSync(file);
    if (e instanceof CliError) throw e;
    throw fail(`cannot write ${file}: ${fsReason(e)}`);
  }
}

/** Asks for a recording and passes the trace's bytes to `write`; resolves with the host's counts. */
function receive(
  control: string,
  seconds: number,
  write: (bytes: Buffer) => void,
): Promise<NonNullable<Header["done"]>> {
  return new Promise((resolve, reject) => {
    const sock: Socket = connect(traceSocket(control));
    let pending = Buffer.alloc(0);
    let done: Header["done"];
    let failed: Error | undefined;
    // The trace's last byte: a whole trace ends its JSON object with "}\n".
    let lastByte = 0;
    const last = (b: Buffer) => ((lastByte = b[b.length - 1] ?? lastByte), b);
    // Ctrl-C ends the window early; the host then sends what it has.
    const stop = () => {
      process.stderr.write("\ntrace: stopping early\n");
      sock.write(JSON.stringify({ op: "stop" }) + "\n");
    };
    const header = (line: string) => {
      const h = JSON.parse(line) as Header;
      if (h.error) throw fail(h.error);
      if (h.recording) {
        process.once("SIGINT", stop);
        process.stderr.write(`trace: recording for ${h.recording.seconds} s (Ctrl-C ends it early)\n`);
      }
      if (h.done) done = h.done;
    };
    sock.once("connect", () => sock.write(JSON.stringify({ op: "record", seconds }) + "\n"));
    sock.on("data", (chunk: Buffer) => {
      if (failed) return;
      try {
        if (done) return write(last(chunk));
        pending = Buffer.concat([pending, chunk]);
        for (let nl = pending.indexOf(0x0a); nl >= 0 && !done; nl = pending.indexOf(0x0a)) {
          header(pending.subarray(0, nl).toString("utf8"));
          pending = pending.subarray(nl + 1);
        }
        if (done && pending.length > 0) write(last(pending));
      } catch (e) {
        // A header that is not JSON is a protocol error; a failed write is the file's (see recordTrace).
        failed =
          e instanceof CliError || !(e instanceof SyntaxError)
            ? (e as Error)
            : fail("the host's answer is not a trace");
        sock.destroy();
      }
    });
    sock.on("error", (e: NodeJS.ErrnoException) => {
      failed ??= fail(unreachable(control, traceSocket(control), e));
    });
    sock.on("close", () => {
      process.off("SIGINT", stop);
      if (failed) reject(failed);
      else if (!done || lastByte !== 0x0a)
        reject(fail("the host closed the connection before the trace was sent"));
      else resolve(done);
    });
  });
}
