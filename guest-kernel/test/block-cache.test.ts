/**
 * The buffer cache over an in-memory device that records every request: reads shared and coalesced,
 * writes delayed and coalesced in ascending order, memory bounded by LRU eviction and early write-back.
 */
import { describe, expect, it } from "vitest";
import { BlockCache } from "../src/block/cache.ts";
import { MemoryBlockDevice } from "./helpers/memory-block-device.ts";

const BS = 1024;
const SPB = BS / 512;

function setup(blocks = 64, capacity = 16) {
  const dev = new MemoryBlockDevice(blocks * BS);
  for (let b = 0; b < blocks; b++) dev.bytes.fill(b, b * BS, (b + 1) * BS);
  return { dev, cache: new BlockCache(dev, BS, capacity) };
}

describe("block cache", () => {
  it("reads a run of uncached contiguous blocks with one device request", async () => {
    const { dev, cache } = setup();
    const blocks = await cache.getRun(10, 6);
    expect(blocks.map((b) => b[0])).toEqual([10, 11, 12, 13, 14, 15]);
    expect(dev.ops("read")).toEqual([{ op: "read", sector: 10 * SPB, sectors: 6 * SPB }]);
  });

  it("reads only the uncached parts of a run, each gap as one request", async () => {
    const { dev, cache } = setup();
    await cache.get(12);
    dev.log.length = 0;
    const blocks = await cache.getRun(10, 5);
    expect(blocks.map((b) => b[0])).toEqual([10, 11, 12, 13, 14]);
    expect(dev.ops("read")).toEqual([
      { op: "read", sector: 10 * SPB, sectors: 2 * SPB },
      { op: "read", sector: 13 * SPB, sectors: 2 * SPB },
    ]);
  });

  it("shares one device read between concurrent requests for the same block", async () => {
    const { dev, cache } = setup();
    let open!: () => void;
    dev.gate = new Promise((r) => (open = r));
    const a = cache.get(7);
    const b = cache.getRun(6, 3);
    open();
    const [ba, bb] = await Promise.all([a, b]);
    expect(ba).toBe(bb[1]); // the same cached buffer
    expect(dev.ops("read").filter((r) => r.sector <= 7 * SPB && r.sector + r.sectors > 7 * SPB)).toHaveLength(
      1,
    );
  });

  it("delays writes until sync, then writes dirty blocks in ascending order, adjacent ones as one, and flushes", async () => {
    const { dev, cache } = setup();
    for (const b of [10, 5, 7, 6]) await cache.modify(b, (buf) => buf.fill(0xee));
    await cache.zero(30);
    expect(dev.ops("write")).toHaveLength(0);
    expect(dev.bytes[5 * BS]).toBe(5);
    await cache.sync();
    expect(dev.log.filter((r) => r.op !== "read")).toEqual([
      { op: "write", sector: 5 * SPB, sectors: 3 * SPB },
      { op: "write", sector: 10 * SPB, sectors: SPB },
      { op: "write", sector: 30 * SPB, sectors: SPB },
      { op: "flush", sector: 0, sectors: 0 },
    ]);
    expect(dev.bytes[6 * BS]).toBe(0xee);
    expect(dev.bytes[30 * BS]).toBe(0);
    expect(cache.size.dirty).toBe(0);
  });

  it("keeps at most its capacity, evicting the least recently used clean block", async () => {
    const { dev, cache } = setup(64, 8);
    for (let b = 0; b < 8; b++) await cache.get(b);
    await cache.get(0); // used again: now the most recent
    await cache.get(20); // evicts block 1, the least recently used
    expect(cache.size.blocks).toBe(8);
    dev.log.length = 0;
    await cache.get(0);
    expect(dev.ops("read")).toHaveLength(0);
    await cache.get(1);
    expect(dev.ops("read")).toHaveLength(1);
    await cache.getRun(30, 20);
    expect(cache.size.blocks).toBeLessThanOrEqual(8);
  });

  it("writes back early once half its capacity is dirty, so writing more than fits stays bounded", async () => {
    const { dev, cache } = setup(64, 8);
    for (let b = 0; b < 40; b++) await cache.put(b, new Uint8Array(BS).fill(0xaa));
    expect(cache.size.blocks).toBeLessThanOrEqual(8);
    const writes = dev.ops("write");
    expect(writes.length).toBeGreaterThan(0);
    expect(writes.every((w) => w.sectors > SPB)).toBe(true); // coalesced, never block by block
    await cache.sync();
    expect(dev.bytes.subarray(0, 40 * BS).every((x) => x === 0xaa)).toBe(true);
  });

  it("lets a put made while a read is in flight win over the device's older data", async () => {
    const { dev, cache } = setup();
    let open!: () => void;
    dev.gate = new Promise((r) => (open = r));
    const reading = cache.get(3);
    await cache.put(3, new Uint8Array(BS).fill(0x55));
    open();
    expect((await reading)[0]).toBe(0x55);
    expect((await cache.get(3))[0]).toBe(0x55);
  });

  it("reports a failed read and asks the device again next time", async () => {
    const { dev, cache } = setup();
    dev.failReads = true;
    await expect(cache.get(4)).rejects.toMatchObject({ code: "EIO" });
    dev.failReads = false;
    expect((await cache.get(4))[0]).toBe(4);
  });

  it("keeps blocks dirty when their write fails, and writes them on the next sync", async () => {
    const { dev, cache } = setup();
    await cache.modify(9, (b) => b.fill(0x99));
    dev.failWrites = true;
    await expect(cache.sync()).rejects.toMatchObject({ code: "EIO" });
    expect(cache.size.dirty).toBe(1);
    dev.failWrites = false;
    await cache.sync();
    expect(dev.bytes[9 * BS]).toBe(0x99);
  });

  it("drops a forgotten dirty block without writing it", async () => {
    const { dev, cache } = setup();
    await cache.modify(11, (b) => b.fill(1));
    cache.forget(11);
    await cache.sync();
    expect(dev.ops("write")).toHaveLength(0);
  });

  it("refuses blocks outside the device", async () => {
    const { cache } = setup(16);
    await expect(cache.get(16)).rejects.toThrow(/outside the device/);
  });
});
