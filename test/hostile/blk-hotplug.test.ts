/**
 * `pvkit block-detach` against a guest that does not play along. What dom0 reads of the guest during
 * a detach is guest-owned xenstore: its frontend's state and its error/ node. A guest that never
 * lets go costs the user a bounded wait and leaves the disk served as before; a refusal worded to
 * attack the terminal the CLI prints it on (escape sequences, a page of text) reaches it as one
 * short line of printable characters. Names and nodes the guest chooses never reach another disk:
 * a disk name whose device number would wrap onto another's is refused, and `block-list` shows a
 * disk's own backend whatever the guest's `backend` node says. The guest is played by writes to
 * the nodes it owns, on a real xenstored, against the toolstack's own hotplug code.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { attachDisk, detachDisk } from "@pvkit/guest-kernel/dom0/toolstack/disk-hotplug";
import { HotplugError } from "@pvkit/guest-kernel/dom0/toolstack/device-hotplug";
import { blockList } from "@pvkit/guest-kernel/dom0/toolstack/disks";
import { Xenstored } from "@pvkit/guest-kernel/dom0/xenstored/index";

const dir = mkdtempSync(join(tmpdir(), "pvkit-hostile-hotplug-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const DOMID = 7;
const BE = `/local/domain/0/backend/vbd/${DOMID}/51728`;
const ERROR = `/local/domain/${DOMID}/error/device/vbd/51728/error`;

/** A store with xvdb attached to DOMID, its backend Connected as blkback would have it. */
async function attached(): Promise<Xenstored> {
  const xs = new Xenstored();
  writeFileSync(join(dir, "d.img"), new Uint8Array(1 << 20));
  const r = attachDisk(xs, DOMID, "d.img,xvdb,r", dir, 10);
  expect(r.disk).toMatchObject({ vdev: "xvdb", readonly: true });
  expect(await r.connected).toBe(false); // no guest connects it here
  xs.write(`${BE}/state`, "4");
  return xs;
}

describe("block-detach and a hostile guest", () => {
  it("a disk name past the last device number is refused, not wrapped onto another disk", async () => {
    const xs = await attached(); // xvdb
    writeFileSync(join(dir, "q.img"), new Uint8Array(1 << 20));
    await attachDisk(xs, DOMID, "q.img,xvdq,r", dir, 10).connected;
    // "xvdajrnje" is index 2^24 + 16: shifted into 32 bits, its number would wrap onto xvdq's.
    await expect(detachDisk(xs, DOMID, "xvdajrnje", true)).rejects.toThrow(/past the last disk name/);
    expect(() => attachDisk(xs, DOMID, "q.img,xvdajrnje,r", dir, 10)).toThrow(/past the last disk name/);
    expect(xs.tryRead(`/local/domain/0/backend/vbd/${DOMID}/${(1 << 28) | (16 << 8)}/state`)).toBe("1");
  });

  it("block-list shows a disk's own backend, wherever the guest points its backend node", async () => {
    const xs = await attached();
    // The frontend directory is the guest's: it points `backend` at another domain's disk.
    xs.write(`/local/domain/${DOMID}/device/vbd/51728/backend`, "/local/domain/0/backend/vbd/8/51712");
    xs.write("/local/domain/0/backend/vbd/8/51712/params", "/secret/other-guest.img");
    const [row] = blockList(xs, DOMID);
    expect(row!.backendPath).toBe(BE);
    expect(row!.params).toBe(join(dir, "d.img"));
  });

  it("a guest that never lets go: a bounded wait, one line, and the disk served as before", async () => {
    const xs = await attached();
    const err = await detachDisk(xs, DOMID, "xvdb", false, 200).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HotplugError);
    expect((err as Error).message).toBe(
      "the guest did not let go of xvdb within 0.2 s (-f removes it anyway)",
    );
    expect([xs.tryRead(`${BE}/state`), xs.tryRead(`${BE}/online`)]).toEqual(["4", "1"]);
    // -f does not ask.
    await detachDisk(xs, DOMID, "xvdb", true);
    expect(xs.tryRead(BE)).toBeUndefined();
  });

  it("a guest that lets go after the wait ended: the next detach removes the disk without asking", async () => {
    const xs = await attached();
    await expect(detachDisk(xs, DOMID, "xvdb", false, 200)).rejects.toThrow(/did not let go/);
    // Late, the guest's blkfront closes; it will not answer another Closing.
    xs.write(`/local/domain/${DOMID}/device/vbd/51728/state`, "6");
    await detachDisk(xs, DOMID, "xvdb", false, 30_000);
    expect(xs.tryRead(BE)).toBeUndefined();
  });

  it("-f during a detach that waits ends both, and leaves nothing behind to block the next attach", async () => {
    const xs = await attached();
    const waiting = detachDisk(xs, DOMID, "xvdb", false, 30_000); // the guest never answers
    await expect(detachDisk(xs, DOMID, "xvdb", false)).rejects.toThrow("xvdb is being detached already");
    await detachDisk(xs, DOMID, "xvdb", true);
    await waiting; // done: the directory went
    expect(xs.tryRead(BE)).toBeUndefined();
    expect(attachDisk(xs, DOMID, "d.img,xvdb,r", dir, 10).disk.vdev).toBe("xvdb");
  });

  it("a refusal built to attack the terminal comes out as one short printable line", async () => {
    const xs = await attached();
    // The guest answers the backend's Closing with its own words in its error node.
    const unwatch = xs.watch(`${BE}/state`, () => {
      if (xs.tryRead(`${BE}/state`) === "5")
        xs.write(ERROR, `\x1b]0;owned\x07\x1b[2J\r\n${"A".repeat(4000)}`);
    });
    const err = await detachDisk(xs, DOMID, "xvdb", false, 30_000).catch((e: unknown) => e);
    unwatch();
    const msg = (err as Error).message;
    expect(msg.startsWith("the guest refused: ?]0;owned??[2J??AAAA")).toBe(true);
    expect(msg).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect(msg.length).toBeLessThan(260);
    expect([xs.tryRead(`${BE}/state`), xs.tryRead(`${BE}/online`)]).toEqual(["4", "1"]);
  });

  it("a refusal left over from an earlier detach does not answer this one", async () => {
    const xs = await attached();
    xs.write(ERROR, "stale");
    // The guest lets go this time: its frontend closes, blkback follows to Closed.
    const unwatch = xs.watch(`${BE}/state`, () => {
      if (xs.tryRead(`${BE}/state`) === "5") xs.write(`${BE}/state`, "6");
    });
    await detachDisk(xs, DOMID, "xvdb", false, 30_000);
    unwatch();
    expect(xs.tryRead(BE)).toBeUndefined();
    expect(xs.tryRead(`/local/domain/${DOMID}/device/vbd/51728`)).toBeUndefined();
  });
});
