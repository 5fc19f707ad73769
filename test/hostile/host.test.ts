/**
 * The host itself: a domain whose memory does not fit is refused at once (it once took the host down
 * after 14 s of allocating), and a second `pvkit up` on the same run directory is refused with one
 * line instead of silently taking the first host's sockets.
 */
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHost } from "@pvkit/hypervisor/cli/host";
import { REPO, healthy, stage, type Stage } from "./harness.ts";

let s: Stage;
beforeAll(async () => void (s = await stage()), 60_000);
afterAll(() => s?.close());

/** Runs the pvkit CLI against the stage's host; resolves with its exit code and output. */
async function pvkit(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const cli = [join(REPO, "node_modules/tsx/dist/cli.mjs"), join(REPO, "hypervisor/src/cli/main.ts")];
  try {
    const r = await promisify(execFile)(process.execPath, [...cli, "--socket", s.host.socket, ...args]);
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}

describe("a domain bigger than the host", () => {
  it("is refused at once by the hypervisor, and by `pvkit create` in one line", async () => {
    const total = s.hv.memory.totalPages / 256;
    expect(() => s.hv.createDomain({ name: "huge", memoryMiB: total })).toThrow(/errno 12/);
    const file = join(s.dir, "huge.cfg");
    writeFileSync(file, `name = "huge"\nkernel = "${join(REPO, "test/guests/idle.ts")}"\nmemory = 65536\n`);
    const r = await pvkit("create", file);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /^pvkit: .*huge\.cfg: memory = 65536 MiB does not fit: \d+ MiB of the host's memory is free/,
    );
    expect(r.err.trim().split("\n")).toHaveLength(1);
    const info = await pvkit("info");
    expect(info.out).toMatch(/total_memory\s+: \d+\n/);
    expect(info.out).toMatch(/free_memory\s+: \d+\n/);
    await healthy(s);
  });
});

describe("a second host on the same run directory", () => {
  it("is refused with one line naming the first; the first keeps serving", async () => {
    await expect(startHost({ socket: s.host.socket, log: () => {} })).rejects.toThrow(
      new RegExp(`^pvkit: a host is already running in ${s.dir} \\(pid ${process.pid}\\)`),
    );
    const r = await pvkit("up");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^pvkit: a host is already running in .* \(pid \d+\); stop it first/);
    expect(r.err.trim().split("\n")).toHaveLength(1);
    await healthy(s);
  });
});
