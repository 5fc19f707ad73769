/**
 * `pvkit capture <bridge|domain> <file.pcap> [--count N] [--seconds S]`: dom0 writes every frame
 * entering a bridge (or to and from a domain's vifs) into a pcap file that tcpdump, tshark and
 * Wireshark read, until N frames, S seconds, or Ctrl-C. On Ctrl-C the CLI asks dom0 to stop and
 * waits until the file is closed before it exits; were the CLI killed outright, its connection
 * closing stops the capture just the same.
 */
import { resolve } from "node:path";
import type { Command } from "commander";
import type { CaptureStarted, CaptureSummary } from "@pvkit/abi/toolstack-protocol";
import { CliError, ControlClient } from "./client.ts";

/** A whole number ≥ 1 (`--count`), or a one-line error. */
function positiveInt(flag: string, value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && Number.isSafeInteger(n)))
    throw new CliError(`pvkit: capture: ${flag}: "${value}" is not a whole number from 1 up`);
  return n;
}

/** Seconds, fractions allowed, more than 0 (`--seconds`). */
function seconds(value: string): number {
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  if (!(n > 0 && n <= 2_000_000))
    throw new CliError(`pvkit: capture: --seconds: "${value}" is not a number of seconds above 0`);
  return n;
}

export function registerCapture(program: Command, socketPath: () => string): void {
  program
    .command("capture <target> <file.pcap>")
    .description("write the frames of a bridge, or of a domain's vifs, to a pcap file (Ctrl-C stops)")
    .option("-c, --count <n>", "stop after n frames")
    .option("--seconds <s>", "stop after s seconds")
    .action(async (target: string, file: string, opts: { count?: string; seconds?: string }) => {
      const count = opts.count === undefined ? undefined : positiveInt("--count", opts.count);
      const secs = opts.seconds === undefined ? undefined : seconds(opts.seconds);
      const path = resolve(file);
      const c = await ControlClient.open(socketPath());
      try {
        const started = await c.request<CaptureStarted>({
          op: "capture-start",
          target,
          file: path,
          ...(count === undefined ? {} : { count }),
          ...(secs === undefined ? {} : { seconds: secs }),
        });
        process.stderr.write(`pvkit: capturing ${started.what} into ${path}; Ctrl-C stops\n`);
        // Ctrl-C: ask dom0 to stop; the wait below then resolves with the closed file's totals.
        const stop = () => void c.request({ op: "capture-stop", capture: started.capture }).catch(() => {});
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
        const r = await c.request<CaptureSummary>({ op: "capture-wait", capture: started.capture });
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        if (r.end === "write-error")
          throw new CliError(`pvkit: capture ${target}: writing ${path}: ${r.error ?? "failed"}`);
        process.stdout.write(
          `${r.frames} frame${r.frames === 1 ? "" : "s"} captured (${r.bytes} bytes) in ${path}\n`,
        );
      } finally {
        c.close();
      }
    });
}
