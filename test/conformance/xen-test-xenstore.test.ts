/**
 * Xen's own xenstore test program (tools/tests/xenstore/test-xenstore.c, from Debian's
 * xen-utils-4.17) against pvkit's xenstored: first every test once, then several copies at once in
 * its random mode — reads, writes of 1 and 2000 bytes, directories, removes, transactions that
 * commit, retry on EAGAIN or abort — each exiting non-zero on any error Xen would not give. They
 * share one parent node, so their transactions really conflict.
 *
 * PVKIT_XS_RANDOM_SECONDS sets how long the random run lasts (default 15; the note has a
 * run of minutes).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Xenstored } from "@pvkit/guest-kernel/dom0/xenstored/index";
import { TEST_XENSTORE, runFile, xenClientsMissing } from "./xen-clients.ts";

const missing = xenClientsMissing();
if (missing) console.warn(`skipping Xen's test-xenstore: ${missing}`);
const suite = missing ? describe.skip : describe;

const seconds = Number(process.env.PVKIT_XS_RANDOM_SECONDS ?? 15);
const dir = mkdtempSync(join(tmpdir(), "pvkit-xstest-"));
const sock = join(dir, "socket");
const logs: string[] = [];
const xs = new Xenstored({ log: (l) => logs.push(l) });

suite("Xen's test-xenstore against pvkit's xenstored", { timeout: (seconds + 120) * 1000 }, () => {
  beforeAll(() => xs.listen(sock));
  afterAll(async () => {
    await xs.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("passes every test", async () => {
    const r = await runFile(TEST_XENSTORE!, ["-i", "20"], sock);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ta err {4}: avg: \d+ ns/m);
  });

  it(`three copies in random mode for ${seconds} s at once: no error`, async () => {
    const runs = await Promise.all(
      [1, 2, 3].map(() => runFile(TEST_XENSTORE!, ["-r", String(seconds)], sock, (seconds + 60) * 1000)),
    );
    for (const r of runs) expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(logs.filter((l) => l.includes("BUG"))).toEqual([]);
    // Each cleans up after itself: nothing of theirs is left.
    const left =
      xs.tryRead("/local/domain/0/xenstore-test") === undefined
        ? []
        : xs.directory("/local/domain/0/xenstore-test");
    expect(left).toEqual([]);
  });
});
