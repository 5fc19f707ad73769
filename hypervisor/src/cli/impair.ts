/**
 * `pvkit network-impair <bridge> [--loss P] [--reorder P] [--duplicate P] [--seed N] | --off`:
 * impairs a bridge for tests (docs/network.md): of the frames it hands to ports, a share P is
 * dropped, held back to go after the next frame for the same port, or handed over twice. P is a
 * percentage ("1%") or a fraction ("0.01"); a knob left out is 0; the seed (default 1) makes the
 * random choices reproduce. `--off` clears it. A bridge not made yet is made, so a test can impair it
 * before booting the guests that use it.
 */
import type { Command } from "commander";
import { describeImpairment, type ImpairRow } from "@pvkit/abi/toolstack-protocol";
import { CliError, ControlClient } from "./client.ts";

const fail = (why: string) => new CliError(`pvkit: network-impair: ${why}`);

/** "1%", "0.5%" or a fraction "0.01" → a probability 0..1, or a one-line error. */
export function parseProbability(flag: string, value: string): number {
  const m = /^(\d+(?:\.\d*)?|\.\d+)(%?)$/.exec(value.trim());
  if (!m) throw fail(`${flag} "${value}": not a percentage`);
  const p = m[2] ? Number(m[1]) / 100 : Number(m[1]);
  if (p > 1)
    throw fail(
      m[2]
        ? `${flag} "${value}": more than 100%`
        : `${flag} "${value}": more than 1 (a plain number is a fraction: 0.01 is 1%)`,
    );
  return p;
}

/** A whole number that fits 32 bits, or a one-line error. */
export function parseSeed(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n <= 0xffff_ffff)) throw fail(`--seed "${value}": not a whole number from 0 to 4294967295`);
  return n;
}

interface ImpairOptions {
  loss?: string;
  reorder?: string;
  duplicate?: string;
  seed?: string;
  off?: boolean;
}

/** The control request's knobs from the options, checked before anything is sent. */
export function impairRequest(opts: ImpairOptions): {
  loss?: number;
  reorder?: number;
  duplicate?: number;
  seed?: number;
} {
  const knobs = [opts.loss, opts.reorder, opts.duplicate, opts.seed];
  if (opts.off) {
    if (knobs.some((k) => k !== undefined)) throw fail("--off takes no other option");
    return {};
  }
  // Each value given is checked first, so a bad one is named even when a knob is missing too.
  const request = {
    ...(opts.loss === undefined ? {} : { loss: parseProbability("--loss", opts.loss) }),
    ...(opts.reorder === undefined ? {} : { reorder: parseProbability("--reorder", opts.reorder) }),
    ...(opts.duplicate === undefined ? {} : { duplicate: parseProbability("--duplicate", opts.duplicate) }),
    ...(opts.seed === undefined ? {} : { seed: parseSeed(opts.seed) }),
  };
  if (opts.loss === undefined && opts.reorder === undefined && opts.duplicate === undefined)
    throw fail("say --loss, --reorder or --duplicate (or --off)");
  return request;
}

export function registerImpair(program: Command, socketPath: () => string): void {
  program
    .command("network-impair <bridge>")
    .description("for tests: drop, reorder or duplicate a share of the frames a bridge switches")
    .option("--loss <p>", "drop this share of frames (1% or 0.01)")
    .option("--reorder <p>", "hold this share back until the next frame for the same port")
    .option("--duplicate <p>", "hand this share over twice")
    .option("--seed <n>", "seed of the random choices (default 1): the same seed, the same choices")
    .option("--off", "clear the bridge's impairment")
    .action(async (bridge: string, opts: ImpairOptions) => {
      const knobs = impairRequest(opts);
      const c = await ControlClient.open(socketPath());
      try {
        const r = await c.request<ImpairRow>({ op: "network-impair", bridge, ...knobs });
        process.stdout.write(`pvkit: ${r.bridge}: ${describeImpairment(r.impairment)}\n`);
      } finally {
        c.close();
      }
    });
}
