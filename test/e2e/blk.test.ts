/**
 * A guest with a disk, as a user configures one (`disk = ['...target=img,vdev=xvda,access=rw']`):
 * the toolstack lays out the devices, dom0's blkback serves the image file, the guest's blkfront
 * connects at boot, and the program reads the whole disk (its checksum matches the file's) and
 * writes three patterns that land in the file byte-exact. When the guest powers off, both ends
 * close and dom0 forgets the device. A disk that is not there is create's one-line error.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO, e2eStage } from "./stage.ts";

const stage = e2eStage("pvkit-e2e-blk-");

const control = <T>(req: Record<string, unknown>) => stage.control<T>(req);

function fnv(bytes: Uint8Array, h = 0x811c9dc5): number {
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193) >>> 0;
  return h;
}

describe("a guest with a disk", { timeout: 120_000 }, () => {
  it("reads the image byte-exact and its writes land in the file", async () => {
    const img = join(stage.dir, "disk.img");
    const data = new Uint8Array(8 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 9)) & 0xff;
    writeFileSync(img, data);
    const file = join(stage.dir, "disk.cfg");
    const config =
      `name = "disky"\nkernel = "${join(REPO, "test/guests/disk-io.ts")}"\nmemory = 16\n` +
      `disk = ['format=raw, vdev=xvda, access=rw, target=${img}']\n`;
    const { domid } = await control<{ domid: number }>({ op: "create", config, file });
    const out = await stage.console("disky", "", /"phase":"done"[^\n]*\n/);
    const line = out.split(/\r?\n/).find((l) => l.includes('"phase":"done"'))!;
    const r = JSON.parse(line.slice(line.indexOf("{"))) as {
      disks: { name: string; sectors: number; readonly: boolean }[];
      sum: number;
      sharedSum: number;
      sharedIsGuestMemory: boolean;
      sharedBack: boolean;
      readBack: boolean[];
      pastEnd: string;
    };
    expect(r.disks).toMatchObject([{ name: "xvda", sectors: 16384, readonly: false }]);
    expect(r.sum).toBe(fnv(data));
    expect([r.sharedSum, r.sharedIsGuestMemory, r.sharedBack]).toEqual([fnv(data), true, true]);
    expect(r.readBack).toEqual([true, true, true]);
    expect(r.pastEnd).toMatch(/EINVAL.*past the end/);

    // It powers off after printing; wait until it is gone, then look at the file.
    for (;;) {
      const list = await control<{ domid: number }[]>({ op: "list" });
      if (!list.some((d) => d.domid === domid)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const after = readFileSync(img);
    expect(after.subarray(0, 512).every((x) => x === 0x5a)).toBe(true);
    expect(after[512]).toBe(data[512]);
    expect(after.subarray(1000 * 512, 1000 * 512 + 65536).every((x) => x === 0xa5)).toBe(true);
    expect(after.subarray(2000 * 512, 2000 * 512 + 131072).every((x) => x === 0xc3)).toBe(true);
    expect(after.subarray((16384 - 2048) * 512).every((x) => x === 0x3c)).toBe(true);
    // dom0 forgot the device with the domain.
    await expect(
      control({ op: "xenstore-read", path: `/local/domain/0/backend/vbd/${domid}` }),
    ).rejects.toThrow(/no such node/);
  });

  it("pvkit block-list shows both ends connected, as xl block-list does", async () => {
    const img = join(stage.dir, "ro.img");
    writeFileSync(img, new Uint8Array(1 << 20));
    const file = join(stage.dir, "listed.cfg");
    const config =
      `name = "listed"\nkernel = "${join(REPO, "test/guests/idle.ts")}"\nmemory = 8\n` +
      `disk = ['${img},xvdb,r']\n`;
    await control({ op: "create", config, file });
    const r = await stage.pvkit(["block-list", "listed"]);
    expect(r.err).toBe("");
    const [head, row] = r.out.trim().split("\n");
    expect(head).toMatch(/^Vdev\s+BE\s+handle\s+state\s+evt-ch\s+ring-ref\s+BE-path/);
    expect(row).toMatch(
      new RegExp(
        `^51728\\s+0\\s+51728\\s+4\\s+\\d+\\s+\\d+\\s+/local/domain/0/backend/vbd/\\d+/51728\\s+.*ro\\.img \\(ro\\)$`,
      ),
    );
    const bad = await stage.pvkit(["block-list", "nobody"]);
    expect(bad.code).toBe(1);
    expect(bad.err.trim().split("\n")).toHaveLength(1);
    expect(bad.err).toMatch(/^pvkit: .*nobody/);
    await control({ op: "destroy", domain: "listed" });
  });

  it("refuses a disk that is not there, in one line naming it", async () => {
    const file = join(stage.dir, "nodisk.cfg");
    const config =
      `name = "nodisk"\nkernel = "${join(REPO, "test/guests/idle.ts")}"\nmemory = 8\n` +
      `disk = ['${join(stage.dir, "missing.img")},xvda,w']\n`;
    await expect(control({ op: "create", config, file })).rejects.toThrow(
      /nodisk\.cfg: disk 0 \(xvda\): .*missing\.img: no such file/,
    );
  });
});
