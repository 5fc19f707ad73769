/**
 * blkfront against blkback over a real image file, in one process (blk-harness.ts plays the
 * hypervisor): the handshake both ways, data byte-exact in both directions at every size from one
 * sector to indirect requests of hundreds of pages, many requests in flight, flush, discard as a
 * real hole in the file, a read-only disk, multi-page rings, and close then reconnect.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { attach } from "./blk-harness.ts";

const dir = mkdtempSync(join(tmpdir(), "pvkit-blk-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const backends: { destroy(): Promise<void> }[] = [];
afterEach(async () => {
  for (const b of backends.splice(0)) await b.destroy();
});

function image(name: string, bytes: number): { path: string; data: Uint8Array } {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 4) new DataView(data.buffer).setUint32(i, (i * 2654435761) >>> 0, true);
  const path = join(dir, name);
  writeFileSync(path, data);
  return { path, data };
}

async function connected(path: string, opts: Parameters<typeof attach>[1] = {}, order = 0) {
  const a = await attach(path, opts);
  await a.back.start();
  backends.push(a.back);
  const info = await a.front.connect({ ringPageOrder: order, poolPages: 512 });
  return { ...a, info, q: a.front.queue };
}

describe("blkfront ↔ blkback over a file", () => {
  it("connects and reports the disk as the backend sees it", async () => {
    const img = image("a.img", 4 << 20);
    const { info, store, be, fe, back } = await connected(img.path);
    expect(info).toMatchObject({
      name: "xvda",
      sectors: 8192,
      sectorSize: 512,
      readonly: false,
      flushes: true,
    });
    expect(info.maxSegments).toBeGreaterThan(11);
    expect(store.values.get(`${be}/state`)).toBe("4");
    expect(store.values.get(`${fe}/state`)).toBe("4");
    expect(store.values.get(`${fe}/protocol`)).toBe("x86_64-abi");
    expect(back.connected).toBe(true);
  });

  it("reads and writes byte-exact at every size, with many requests in flight", async () => {
    const img = image("b.img", 8 << 20);
    const { q } = await connected(img.path);
    const sizes = [512, 1024, 4096, 4608, 45056, 49152, 1 << 20, 3 << 20];
    for (const size of sizes) {
      const sector = (size * 7) % 4096;
      const got = new Uint8Array(size);
      await q.read(sector, got);
      expect(Buffer.compare(got, img.data.subarray(sector * 512, sector * 512 + size))).toBe(0);
    }
    // 64 concurrent writes of distinct patterns, then read everything back.
    const writes = Array.from({ length: 64 }, (_, i) => {
      const d = new Uint8Array(8192).fill(i + 1);
      return q.write(i * 16, d);
    });
    await Promise.all(writes);
    await q.flush();
    const onDisk = readFileSync(img.path);
    for (let i = 0; i < 64; i++) expect(onDisk[i * 16 * 512 + 100]).toBe(i + 1);
    const back = new Uint8Array(64 * 16 * 512);
    await q.read(0, back);
    for (let i = 0; i < 64; i++) expect(back[i * 8192 + 8191]).toBe(i + 1);
  });

  it("uses a multi-page ring when asked", async () => {
    const img = image("c.img", 1 << 20);
    const { q, store, fe } = await connected(img.path, {}, 2);
    expect(store.values.get(`${fe}/ring-page-order`)).toBe("2");
    expect(store.values.has(`${fe}/ring-ref3`)).toBe(true);
    const reads = Array.from({ length: 200 }, (_, i) => {
      const b = new Uint8Array(512);
      return q.read(i, b).then(() => b);
    });
    const got = await Promise.all(reads);
    got.forEach((b, i) => expect(Buffer.compare(b, img.data.subarray(i * 512, i * 512 + 512))).toBe(0));
  });

  it("discards by punching a hole in the image", async () => {
    const img = image("d.img", 4 << 20);
    const before = statSync(img.path).blocks;
    const { q, info } = await connected(img.path);
    expect(info.discards).toBe(true);
    await q.discard(2048, 4096); // 2 MiB
    const after = statSync(img.path).blocks;
    expect(after).toBeLessThan(before);
    const b = new Uint8Array(4096);
    await q.read(2048, b);
    expect(b.every((x) => x === 0)).toBe(true);
  });

  it("serves a read-only disk and refuses writes to it", async () => {
    const img = image("e.img", 1 << 20);
    const { q, info } = await connected(img.path, { readonly: true });
    expect(info.readonly).toBe(true);
    await expect(q.write(0, new Uint8Array(512).fill(9))).rejects.toThrow(/EIO/);
    expect(readFileSync(img.path)[0]).toBe(img.data[0]);
  });

  it("reads into and writes from a shared buffer on the buffer's own pages, across a reconnect", async () => {
    const img = image("g.img", 4 << 20);
    const a = await connected(img.path);
    const buf = a.front.buffer((1 << 20) + 8192)!;
    expect(buf.length).toBe((1 << 20) + 8192);
    expect(buf.every((x) => x === 0)).toBe(true);
    const bufPfns = [...a.machine.pages].filter(([, b]) => b.buffer === buf.buffer).map(([pfn]) => pfn);
    expect(bufPfns).toHaveLength(258);
    const granted = () => [...a.machine.grants.values()].filter((g) => bufPfns.includes(g.pfn));
    expect(granted()).toHaveLength(258);
    const poolGrants = () => a.machine.grants.size - 258 - 1; // less the buffer and the ring

    // 1 MiB in indirect requests: the backend maps the buffer's pages; the pool gives only the
    // indirect pages (one a request), so no data went through it.
    const requests = Math.ceil(256 / a.info.maxSegments);
    await a.q.read(2048, buf.subarray(0, 1 << 20));
    expect(
      Buffer.compare(buf.subarray(0, 1 << 20), img.data.subarray(2048 * 512, 2048 * 512 + (1 << 20))),
    ).toBe(0);
    expect(granted().filter((g) => g.mapped > 0)).toHaveLength(256);
    expect(poolGrants()).toBeLessThanOrEqual(requests);
    expect(a.machine.batchMapped).toBeGreaterThanOrEqual(256); // first use: mapped in batches

    // A write from the buffer's last two pages reaches the file.
    buf.fill(0x5a, 1 << 20);
    await a.q.write(100, buf.subarray(1 << 20));
    await a.q.flush();
    expect(
      readFileSync(img.path)
        .subarray(100 * 512, 100 * 512 + 8192)
        .every((x) => x === 0x5a),
    ).toBe(true);
    expect(poolGrants()).toBeLessThanOrEqual(requests);

    // A view that does not start on a page of the buffer goes through the pool, still exact.
    await a.q.read(0, buf.subarray(512, 512 + 4096));
    expect(Buffer.compare(buf.subarray(512, 4608), img.data.subarray(0, 4096))).toBe(0);

    // Released, its pages are reused by the next buffer, zeroed, with no new grant; the old view is
    // no longer lent (refsOf), and a buffer that is not lent is refused.
    const grantsBefore = a.machine.grants.size;
    const again = a.front.buffer(8192)!;
    expect(again.buffer).not.toBe(buf.buffer); // not released yet: new pages
    expect(a.front.releaseBuffer(again)).toBe(true);
    expect(a.front.releaseBuffer(again)).toBe(false);
    expect(a.front.releaseBuffer(new Uint8Array(4096))).toBe(false);
    const reused = a.front.buffer(4096)!;
    expect([reused.buffer, reused.byteOffset]).toEqual([again.buffer, again.byteOffset]);
    expect(a.machine.grants.size).toBe(grantsBefore + 2); // `again`'s two pages, granted once
    reused.fill(9);
    expect(a.front.releaseBuffer(reused)).toBe(true);
    expect(a.front.buffer(8192)!.every((x) => x === 0)).toBe(true); // both pages again, zeroed
    expect(a.machine.grants.size).toBe(grantsBefore + 2);

    // Closing ends the pool's grants but not the buffer's: after a reconnect it is served again.
    await a.front.close();
    expect(granted()).toHaveLength(258);
    await a.store.write(`${a.fe}/state`, "1");
    await a.front.connect({ poolPages: 512 });
    buf.fill(0);
    await a.front.queue.read(100, buf.subarray(0, 8192));
    expect(buf.subarray(0, 8192).every((x) => x === 0x5a)).toBe(true);
    await a.front.close();
  });

  it("moves nothing for an empty buffer, and fails alone a request no grant is left for", async () => {
    const img = image("h.img", 4 << 20);
    const a = await connected(img.path);
    await a.q.read(8, new Uint8Array(0)); // no request at all: 0 segments would be refused
    await a.q.write(8, new Uint8Array(0));

    // The guest's grant table is full: a lent buffer cannot be made (an ordinary one is used), and
    // a request whose pool pages cannot be granted fails with EIO, alone; the next ones run on.
    await a.q.read(0, new Uint8Array(4096)); // the pool holds one granted page now
    a.machine.grantLimit = a.machine.grants.size;
    expect(a.front.buffer(4096)).toBeUndefined();
    const big = new Uint8Array(64 * 4096); // more pool pages than were ever granted
    const small = new Uint8Array(512);
    const [bigDone, smallDone] = await Promise.allSettled([a.q.read(0, big), a.q.read(0, small)]);
    expect(bigDone.status === "rejected" && String(bigDone.reason)).toMatch(/EIO.*grant table full/);
    expect(smallDone.status).toBe("fulfilled"); // a page granted before serves it
    expect(Buffer.compare(small, img.data.subarray(0, 512))).toBe(0);
    a.machine.grantLimit = Infinity;
    await a.q.read(0, big); // and the disk is not broken
    expect(Buffer.compare(big, img.data.subarray(0, big.length))).toBe(0);
  });

  it("keeps dom0's mappings bounded while a frontend cycles through more pages than it keeps", async () => {
    const img = image("i.img", 4 << 20);
    const a = await attach(img.path);
    await a.back.start();
    backends.push(a.back);
    await a.front.connect({ poolPages: 512, sharedPages: 12_000 });
    const mappedNow = () => [...a.machine.grants.values()].filter((g) => g.mapped > 0).length;
    let most = 0;
    const bufs: Uint8Array[] = [];
    // 40 buffers of 1 MiB, 10 240 distinct pages, each read into twice: blkback keeps 4096.
    for (let round = 0; round < 2; round++)
      for (let i = 0; i < 40; i++) {
        const buf = round === 0 ? a.front.buffer(1 << 20)! : bufs[i]!;
        if (round === 0) bufs.push(buf);
        await a.front.queue.read(i * 8, buf);
        expect(Buffer.compare(buf, img.data.subarray(i * 4096, i * 4096 + (1 << 20)))).toBe(0);
        most = Math.max(most, mappedNow());
      }
    expect(most).toBeLessThanOrEqual(4096 + 1); // its table, and the ring page
    expect(most).toBeGreaterThan(3000); // it did keep most of what it could
  });

  it("closes cleanly, ending every grant, and connects again", async () => {
    const img = image("f.img", 1 << 20);
    const a = await connected(img.path);
    await a.q.write(10, new Uint8Array(4096).fill(7));
    await a.front.close();
    expect(a.store.values.get(`${a.fe}/state`)).toBe("6");
    expect(a.store.values.get(`${a.be}/state`)).toMatch(/^[56]$/);
    expect(a.machine.grants.size).toBe(0); // backend unmapped all, frontend ended all
    await a.store.write(`${a.fe}/state`, "1"); // a restarted frontend
    await a.front.connect();
    const b = new Uint8Array(4096);
    await a.front.queue.read(10, b);
    expect(b.every((x) => x === 7)).toBe(true);
    await a.front.close();
    await a.back.destroy();
    expect(a.store.watchCount).toBe(0);
  });
});
