/**
 * Bells (native/bell.cc): the byte that wakes the other side's event loop, read in C++, over a
 * real socket pair. What a cell can do to its end is test/hostile/bell.test.ts.
 */
import { closeSync, fstatSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { SHM_ADDON_PATH, shm } from "../src/native/shm.ts";

const turn = () => new Promise<void>((r) => setImmediate(r));

/** Resolves once `cond()` holds, looking once a turn (the test's own timeout is the hang guard). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 1));
}

describe("a bell", () => {
  it("calls back once for the bytes that came, on this thread's loop, and goes quiet on close", async () => {
    const [a, b] = shm().bellPair();
    let rings = 0;
    const id = shm().bellWatch(a, () => rings++);
    writeSync(b, new Uint8Array(100)); // a burst: one ring
    await until(() => rings > 0);
    await turn();
    expect(rings).toBe(1);
    writeSync(b, new Uint8Array([1]));
    await until(() => rings === 2);
    expect(shm().bellClose(id)).toBe(true);
    expect(shm().bellClose(id)).toBe(false); // closed already
    // Its fd is closed once libuv has let go of the handle (at the end of a turn): the far end now
    // writes into a socket nobody reads.
    await turn();
    await turn();
    expect(() => writeSync(b, new Uint8Array([1]))).toThrow(/EPIPE/);
    closeSync(b);
    await turn();
    expect(rings).toBe(2);
  });

  it("refuses what is not a watchable fd, and a watch of another thread", async () => {
    expect(() => shm().bellWatch(-1, () => {})).toThrow(/bellWatch/);
    expect(() => shm().bellWatch(987654, () => {})).toThrow(/bellWatch: /); // EBADF
    const [a, b] = shm().bellPair();
    const id = shm().bellWatch(a, () => {});
    const other = new Worker(
      `const { parentPort, workerData } = require("node:worker_threads");
       parentPort.postMessage(require(workerData.addon).bellClose(workerData.id));`,
      { eval: true, workerData: { addon: SHM_ADDON_PATH, id } },
    );
    expect(await new Promise((r) => other.once("message", r))).toBe(false);
    expect(shm().bellClose(id)).toBe(true);
    closeSync(b);
  });

  it("rings its peer with bellRing: 0, EAGAIN once the peer's buffer is full, EBADF once closed", async () => {
    const [a, b] = shm().bellPair();
    const id = shm().bellWatch(a, () => {});
    const EAGAIN = 11;
    const EBADF = 9;
    expect(shm().bellRing(id)).toBe(0);
    const got = Buffer.alloc(16);
    expect(readSync(b, got)).toBe(1);
    expect(got[0]).toBe(1);
    // A peer that never reads: rings fill its buffer, then each is refused without a throw.
    let rings = 0;
    while (shm().bellRing(id) === 0 && rings < 1 << 22) rings++;
    expect(rings).toBeGreaterThan(0);
    expect(shm().bellRing(id)).toBe(EAGAIN);
    expect(shm().bellClose(id)).toBe(true);
    expect(shm().bellRing(id)).toBe(EBADF);
    expect(shm().bellRing(-1)).toBe(EBADF);
    closeSync(b);
  });

  it("may be closed from its own callback, with more queued than one turn reads", async () => {
    for (let k = 0; k < 20; k++) {
      const [a, b] = shm().bellPair();
      let calls = 0;
      const id: number = shm().bellWatch(a, () => {
        calls++;
        expect(shm().bellClose(id)).toBe(true);
      });
      writeSync(b, new Uint8Array(200_000)); // readable again next turn, were the watch still open
      await until(() => calls > 0);
      await turn();
      await turn();
      expect(calls).toBe(1);
      closeSync(b);
    }
  });

  it("once closed, rings nothing into the file that took its fd number", async () => {
    const [a, b] = shm().bellPair();
    const id = shm().bellWatch(a, () => {});
    expect(shm().bellClose(id)).toBe(true);
    await turn(); // libuv closes the handle at the end of a turn, then its fd
    await turn();
    const dir = mkdtempSync(join(tmpdir(), "pvkit-bell-"));
    const files: number[] = [];
    try {
      // The lowest free number comes first: open files until one has the bell's old number.
      while (files.length < 64 && !files.includes(a))
        files.push(openSync(join(dir, `disk${files.length}.img`), "w+"));
      expect(files).toContain(a);
      expect(shm().bellRing(id)).toBe(9); // EBADF: the id names no open watch, whatever fd a is now
      expect(statSync(join(dir, `disk${files.indexOf(a)}.img`)).size).toBe(0);
    } finally {
      for (const fd of files) closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
      closeSync(b);
    }
  });

  it("left open by a worker thread that exits: closed with it, and the process lives on", async () => {
    // Node closes a worker's event loop once its thread ends, and aborts the whole process if a
    // handle is still open on it: a watch closes itself when its thread's environment ends.
    const [a, b] = shm().bellPair();
    const w = new Worker(
      `const { workerData } = require("node:worker_threads");
       require(workerData.addon).bellWatch(workerData.fd, () => {});`,
      { eval: true, workerData: { addon: SHM_ADDON_PATH, fd: a } },
    );
    expect(await new Promise((r) => w.once("exit", r))).toBe(0);
    // The worker's watch closed its fd: the far end has no reader.
    expect(() => writeSync(b, new Uint8Array([1]))).toThrow(/EPIPE/);
    closeSync(b);
  });
});

describe("a send end (the trap service's bell, rung by workers of this process)", () => {
  const EBADF = 9;
  const ENOTSOCK = 88;

  it("rings the watch from another thread, by id; once closed, the id rings nothing", async () => {
    const [a, b] = shm().bellPair();
    let rings = 0;
    const watch = shm().bellWatch(a, () => rings++);
    const sender = shm().bellSendEnd(b);
    const w = new Worker(
      `const { parentPort, workerData } = require("node:worker_threads");
       parentPort.postMessage(require(workerData.addon).bellSend(workerData.sender));`,
      { eval: true, workerData: { addon: SHM_ADDON_PATH, sender } },
    );
    expect(await new Promise((r) => w.once("message", r))).toBe(0);
    await until(() => rings === 1);
    expect(shm().bellSendClose(sender)).toBe(true);
    expect(shm().bellSendClose(sender)).toBe(false);
    expect(shm().bellSend(sender)).toBe(EBADF);
    for (const bad of [-1, 0.5, 1e12, Number.NaN]) expect(shm().bellSend(bad)).toBe(EBADF);
    // The watch's peer is gone: it reads the end once and goes quiet.
    await turn();
    expect(rings).toBe(1);
    expect(shm().bellClose(watch)).toBe(true);
  });

  it("can write no file: made on a disk image's fd, a ring is ENOTSOCK and the file is untouched", () => {
    const dir = mkdtempSync(join(tmpdir(), "pvkit-bell-"));
    try {
      const file = join(dir, "disk.img");
      const fd = openSync(file, "w+");
      const sender = shm().bellSendEnd(fd);
      expect(shm().bellSend(sender)).toBe(ENOTSOCK);
      expect(statSync(file).size).toBe(0);
      expect(shm().bellSendClose(sender)).toBe(true); // and it closed the fd
      expect(() => fstatSync(fd)).toThrow(/EBADF/); // a look, never a write: the number may be reused
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
