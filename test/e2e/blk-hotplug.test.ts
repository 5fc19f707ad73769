/**
 * Disks into and out of a running guest, as `xl block-attach` / `xl block-detach` do it: the
 * toolstack writes the device's directories, blkback takes them up, the guest's kernel (which
 * follows device/vbd) connects the disk, and its program reads it byte-exact; detach asks the guest
 * to let go (the backend's Closing), both ends close, and the directories go. A disk the guest has
 * mounted is refused and keeps working; `-f` takes one without asking. Every mistake is one line.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO, e2eStage } from "./stage.ts";

const stage = e2eStage("pvkit-e2e-blk-hotplug-");

function fnv(bytes: Uint8Array, h = 0x811c9dc5): number {
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193) >>> 0;
  return h;
}

/** An image of `mib` MiB whose bytes depend on `seed`. */
function image(name: string, mib: number, seed: number): { path: string; head: number } {
  const data = new Uint8Array(mib << 20);
  for (let i = 0; i < data.length; i++) data[i] = (i * seed + (i >> 9)) & 0xff;
  const path = join(stage.dir, name);
  writeFileSync(path, data);
  return { path, head: fnv(data.subarray(0, 65536)) };
}

/** The node's value, or undefined when xenstore has no such node. */
const read = (path: string) =>
  stage.control<string>({ op: "xenstore-read", path }).catch((e: Error) => {
    if (/no such node/.test(e.message)) return undefined;
    throw e;
  });

describe("disk hotplug (pvkit block-attach / block-detach)", { timeout: 120_000 }, () => {
  it("a disk attached to a running guest is read byte-exact, then detached cleanly, twice", async () => {
    const a = image("a.img", 2, 7);
    const b = image("b.img", 1, 13);
    const file = join(stage.dir, "hot.cfg");
    const config = `name = "hot"\nkernel = "${join(REPO, "test/guests/disk-hotplug.ts")}"\nmemory = 16\n`;
    writeFileSync(file, config);
    const { domid } = await stage.control<{ domid: number }>({ op: "create", config, file });
    expect(await stage.phase("hot", "ready")).toMatchObject({ disks: [] });

    // Relative to the directory the command runs in, as a cfg's targets are to the cfg's.
    const attach = await stage.pvkit(
      ["block-attach", "hot", "format=raw, vdev=xvdb, access=r, target=a.img"],
      "",
      stage.dir,
    );
    expect(attach).toMatchObject({ code: 0, err: "" });
    expect(await stage.phase("hot", "attached1")).toMatchObject({ sum: a.head, sectors: 4096 });
    const list = await stage.pvkit(["block-list", "hot"]);
    expect(list.out).toMatch(/^51728\s+0\s+\d+\s+4\s+/m);
    expect(list.out).toContain(a.path);

    const detach = await stage.pvkit(["block-detach", "hot", "xvdb"]);
    expect(detach).toMatchObject({ code: 0, err: "" });
    const gone = await stage.phase<{ after: string; disks: string[] }>("hot", "detached1");
    expect(gone.disks).toEqual([]);
    expect(gone.after).toMatch(/not connected|detached|closed/);
    expect(await read(`/local/domain/0/backend/vbd/${domid}/51728`)).toBeUndefined();
    expect(await read(`/local/domain/${domid}/device/vbd/51728`)).toBeUndefined();
    // The toolstack's Closing came before blkback unmapped the disk's pages: blkfront ended those
    // grants once blkback was Closed, so no page stayed granted (and lost to the guest).
    const log = await stage.console("hot", "", /blkfront: xvdb: detached/);
    expect(log).not.toMatch(/left granted/);

    // The same name again, another image: a fresh device, forced out this time.
    expect(await stage.pvkit(["block-attach", "hot", `${b.path},xvdb,r`])).toMatchObject({
      code: 0,
      err: "",
    });
    expect(await stage.phase("hot", "attached2")).toMatchObject({ sum: b.head, sectors: 2048 });
    expect(await stage.pvkit(["block-detach", "-f", "hot", "xvdb"])).toMatchObject({ code: 0, err: "" });
    expect(await stage.phase("hot", "detached2")).toMatchObject({ disks: [] });
    expect(await read(`/local/domain/0/backend/vbd/${domid}/51728`)).toBeUndefined();
    // Its directory went first; blkfront still gave back every page (blkback unmapped as it went).
    const log2 = await stage.console("hot", "", /xvdb: detached[\s\S]*xvdb: detached/);
    expect(log2).not.toMatch(/left granted/);
  });

  it("a mounted root disk is refused, and keeps working", async () => {
    const root = join(stage.dir, "root.img");
    expect(
      await stage.pvkit(["mkfs", root, "--size", "8", "-d", join(REPO, "examples/rootfs")]),
    ).toMatchObject({ code: 0 });
    const file = join(stage.dir, "rooted.cfg");
    const config = `name = "rooted"\nkernel = "${join(REPO, "examples/guests/shell.ts")}"\nmemory = 16\ndisk = ['${root},xvda,w']\n`;
    writeFileSync(file, config);
    const { domid } = await stage.control<{ domid: number }>({ op: "create", config, file });
    await stage.console("rooted", "", /\$ $/m);
    const r = await stage.pvkit(["block-detach", "rooted", "xvda"]);
    expect(r.code).toBe(1);
    expect(r.err.trim()).toBe(
      "pvkit: block-detach rooted xvda: the guest refused: xvda is in use (a file system is mounted on it)",
    );
    expect(await read(`/local/domain/0/backend/vbd/${domid}/51712/state`)).toBe("4");
    expect(await read(`/local/domain/0/backend/vbd/${domid}/51712/online`)).toBe("1");
    // The shell still lists the root: the disk under it was never closed.
    const ls = await stage.console("rooted", "ls /\n", /srv[\s\S]*\$ $/);
    expect(ls).toMatch(/etc[\s\S]*home[\s\S]*srv/);
  });

  it("says in one line what is wrong", async () => {
    const img = image("c.img", 1, 3);
    const file = join(stage.dir, "errs.cfg");
    const config = `name = "errs"\nkernel = "${join(REPO, "test/guests/idle.ts")}"\nmemory = 8\ndisk = ['${img.path},xvda,r']\n`;
    writeFileSync(file, config);
    await stage.control({ op: "create", config, file });
    const cases: [string[], string][] = [
      [["block-attach", "nosuch", `${img.path},xvdb,r`], `pvkit: no domain "nosuch"`],
      [
        ["block-attach", "0", `${img.path},xvdb,r`],
        "pvkit: that is dom0: operate the host with `pvkit up`'s process instead",
      ],
      [["block-attach", "errs", `${img.path},xvda,r`], "pvkit: block-attach errs: xvda is already attached"],
      [
        ["block-attach", "errs", `vdev=xvdc, access=r`],
        "pvkit: block-attach errs: missing target (the image file)",
      ],
      [
        ["block-attach", "errs", `target=${img.path}, vdev=xvdc, colour=red`],
        `pvkit: block-attach errs: unknown disk key "colour"`,
      ],
      [
        ["block-attach", "errs", `${join(stage.dir, "none.img")},xvdc,r`],
        `pvkit: block-attach errs: ${join(stage.dir, "none.img")}: no such file`,
      ],
      [["block-detach", "errs", "xvdq"], "pvkit: block-detach errs xvdq: xvdq is not attached"],
      [
        ["block-detach", "errs", "sda"],
        `pvkit: block-detach errs sda: "sda" is not a disk name (xvda, xvdb, ...)`,
      ],
    ];
    for (const [args, err] of cases) {
      const r = await stage.pvkit(args);
      expect([r.code, r.err.trim()], args.join(" ")).toEqual([1, err]);
    }
  });
});
