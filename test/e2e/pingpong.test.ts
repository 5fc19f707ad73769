/**
 * The two-guest example as a user runs it (`pnpm pingpong`): a process that boots a host, creates
 * pong and ping, introduces them, and ends once both powered off. Every ping got its pong over the
 * shared page, in order (ping checks each reply), and no run directory is left behind.
 */
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { REPO } from "./stage.ts";

it(
  "pnpm pingpong: 1000 pings over a vchan between two guests, each answered",
  { timeout: 120_000 },
  async () => {
    const before = new Set(readdirSync(tmpdir()).filter((f) => f.startsWith("pvkit-pingpong-")));
    const run = await new Promise<{ code: number; out: string; err: string }>((done) =>
      execFile(
        process.execPath,
        [join(REPO, "node_modules/tsx/dist/cli.mjs"), join(REPO, "examples/pingpong/run.ts")],
        { timeout: 100_000 },
        (e, out, err) => done({ code: e ? Number((e as { code?: number }).code ?? -1) : 0, out, err }),
      ),
    );
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/\[pong\] pong: serving a vchan to domain \d+/);
    expect(run.out).toMatch(/\[ping\] ping: connected to domain \d+/);
    expect(run.out).toContain("[pong] pong: answered 1000 pings; bye");
    expect(run.out).toMatch(/\[ping\] ping: 1000 round trips over the vchan: median \d+ µs, p99 \d+ µs/);
    expect(run.out).toMatch(/\[ping\] ping: 262144 bytes in one write, checksum matched: \d+ ms/);
    const after = readdirSync(tmpdir()).filter((f) => f.startsWith("pvkit-pingpong-") && !before.has(f));
    expect(after).toEqual([]);
  },
);
