/**
 * A hostile frontend against dom0's blkback, on a real host. A victim guest keeps writing and
 * verifying its own disk through its kernel's blkfront; an attacker guest with two disks (xvda
 * read-write, xvdb read-only) takes both away from its kernel and speaks raw blkif bytes
 * (guests/blk-attacker.ts): every malformed request the backend must refuse, good requests in
 * between, a race on a slot it keeps rewriting, and at last a req_prod more than a ring ahead.
 *
 * What must hold (the blkif contract, xen/io/blkif.h, and "the backend never trusts the ring"):
 * each bad request is answered BLKIF_RSP_ERROR, or BLKIF_RSP_EOPNOTSUPP for an operation not
 * offered; every response echoes its id and carries no stray bytes; the good ones still work; no
 * refused write and no raced write reaches the image anywhere but where a coherent, checked version
 * of it said; the lying ring is disconnected the way xenbus_dev_fatal does it (an error node, state
 * Closing) while the same guest's other disk is still served; and all along the victim's I/O
 * succeeds byte-exact and dom0 keeps answering.
 */
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

import { REPO, e2eStage } from "../e2e/stage.ts";
import { POISON_SECTOR, XVDA, patternA, patternB, patternVictim, victimRound } from "./guests/blk-images.ts";

const stage = e2eStage("pvkit-hostile-blkback-");
const OK = 0;
const ERROR = -1;
const EOPNOTSUPP = -2;

const control = <T>(req: Record<string, unknown>) => stage.control<T>(req);

const phase = <T = Record<string, unknown>>(name: string, p: string) => stage.phase<T>(name, p);

/** What the attacker reports of its race (blk-attacker.ts's race()). */
interface Raced {
  rounds: number;
  ok: number;
  refused: number;
  other: number;
  /** The page's value in each round whose write was answered OKAY. */
  okValues: number[];
  flips: number;
}

/** An image file of `bytes` bytes whose byte i is pattern(i). */
function image(
  name: string,
  bytes: number,
  pattern: (i: number) => number,
): { path: string; data: Uint8Array } {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = pattern(i);
  const path = join(stage.dir, name);
  writeFileSync(path, data);
  return { path, data };
}

async function victimRounds(domid: number): Promise<number> {
  return Number(await control<string>({ op: "xenstore-read", path: `/local/domain/${domid}/data/rounds` }));
}

/** Polls the victim's round count until it passes `n` (the guard only catches a hang). */
async function victimPasses(domid: number, n: number): Promise<number> {
  const guard = Date.now() + 30_000;
  for (;;) {
    const r = await victimRounds(domid);
    if (r > n) return r;
    if (Date.now() > guard) throw new Error(`the victim is stuck at round ${r}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

describe("blkback against a hostile frontend", { timeout: 120_000 }, () => {
  it("refuses every bad request, survives a race and a lying ring, and keeps serving the victim", async () => {
    const victimImg = image("victim.img", 2 << 20, patternVictim);
    // A ragged tail past the last whole sector: bytes in the file that are not on the disk.
    const aImg = image("a.img", (4 << 20) + 300, patternA);
    const bImg = image("b.img", 1 << 20, patternB);
    const create = async (name: string, disks: string[]) => {
      const file = join(stage.dir, `${name}.cfg`);
      const kernel = join(REPO, `test/hostile/guests/blk-${name}.ts`);
      const config = `name = "${name}"\nkernel = "${kernel}"\nmemory = 16\ndisk = [${disks.map((d) => `'${d}'`).join(", ")}]\n`;
      return (await control<{ domid: number }>({ op: "create", config, file })).domid;
    };

    const victim = await create("victim", [`format=raw, vdev=xvda, access=rw, target=${victimImg.path}`]);
    await phase("victim", "running");
    const attacker = await create("attacker", [
      `format=raw, vdev=xvda, access=rw, target=${aImg.path}`,
      `format=raw, vdev=xvdb, access=r, target=${bImg.path}`,
    ]);
    const roundsBefore = await victimRounds(victim);
    await control({
      op: "xenstore-write",
      path: `/local/domain/${attacker}/data/targets`,
      value: JSON.stringify({ victim }),
    });

    // One request at a time, each answered as the contract says, with clean response bytes.
    const probed = await phase("attacker", "probed");
    expect(probed.status).toEqual({
      "good write": OK,
      "good read": OK,
      "op 4": EOPNOTSUPP,
      "op 200": EOPNOTSUPP,
      "write barrier": EOPNOTSUPP,
      "read 0 segments": ERROR,
      "read 12 segments": ERROR,
      "write 0 segments": ERROR,
      "write 12 segments": ERROR,
      "last_sect 8": ERROR,
      "first > last": ERROR,
      "past the end": ERROR,
      "sector 2^63": ERROR,
      "sector 2^64-1": ERROR,
      "gref 9999": ERROR,
      "gref of another domain": ERROR,
      "read into a read-only grant": ERROR,
      "write to read-only disk": ERROR,
      "discard on read-only disk": ERROR,
      "secure discard": EOPNOTSUPP,
      "discard past the end": ERROR,
      "discard of 2^64-1 sectors": ERROR,
      "good indirect read": OK,
      "indirect flush": ERROR,
      "indirect 0 segments": ERROR,
      "indirect 257 segments": ERROR,
      "indirect page gref 9999": ERROR,
      "indirect page of another domain": ERROR,
      "indirect last_sect 8": ERROR,
      "indirect segment gref 9999": ERROR,
      "indirect past the end": ERROR,
      "good write after": OK,
      flush: OK,
      "good read after": OK,
      "good read of read-only disk": OK,
    });
    expect(probed.dirty).toEqual([]); // every id echoed, every padding byte zero
    expect(probed.checks).toEqual({
      goodRead: true,
      readOnlyUntouched: true,
      goodIndirectRead: true,
      goodReadAfter: true,
      goodReadB: true,
    });

    // The race: each write was served as published or refused, never a mix.
    const raced = await phase<Raced>("attacker", "raced");
    expect(raced.other).toBe(0);
    expect(raced.ok + raced.refused).toBe(raced.rounds);
    expect(raced.flips).toBeGreaterThan(0); // the slot really was being rewritten while served

    // The lie: xvda disconnected as xenbus_dev_fatal does, xvdb still served.
    const overrun = await phase("attacker", "overrun");
    expect(overrun).toMatchObject({ backendState: "5", readAfterOverrun: true });
    const error = await control<string>({
      op: "xenstore-read",
      path: `/local/domain/0/error/backend/vbd/${attacker}/${XVDA}/error`,
    });
    expect(error).toMatch(/req_prod is corrupt/);

    // The victim's I/O went on during the attack and goes on after it.
    const roundsAfterAttack = await victimRounds(victim);
    expect(roundsAfterAttack).toBeGreaterThan(roundsBefore);
    await victimPasses(victim, roundsAfterAttack + 3);
    const list = await control<{ name: string; state: string }[]>({ op: "list" });
    for (const name of ["victim", "attacker"])
      expect(list.find((d) => d.name === name)?.state, name).toMatch(/^[-rb]+$/);
    expect(stage.host.hv.domains.get(0)?.state).toBe("running");
    await control({ op: "xenstore-write", path: `/local/domain/${victim}/data/stop`, value: "1" });
    const stopped = await phase<{ rounds: number; failures: number; errors: string[] }>("victim", "stopped");
    expect(stopped).toMatchObject({ failures: 0, errors: [] });

    // The images. The attacker's: its length and the ragged tail past the disk as they were; no
    // refused write reached POISON_SECTOR, where they all aimed; every other sector as the good
    // writes left it, or wholly one value of a raced write answered OKAY (the last sector, or where
    // a torn copy of the sector number pointed, inside the disk: see race() in blk-attacker.ts).
    const a = aImg.data.slice();
    a.fill(0x77, 100 * 512, 108 * 512);
    a.fill(0x88, 300 * 512, 308 * 512);
    const aNow = readFileSync(aImg.path);
    const sectors = Math.floor(a.length / 512);
    expect(aNow.length).toBe(a.length);
    expect(Buffer.compare(aNow.subarray(sectors * 512), a.subarray(sectors * 512))).toBe(0);
    const poison = (b: Uint8Array) => b.subarray(POISON_SECTOR * 512, (POISON_SECTOR + 8) * 512);
    expect(Buffer.compare(poison(aNow), poison(aImg.data))).toBe(0);
    const okValues = new Set(raced.okValues);
    const unexplained: number[] = [];
    for (let s = 0; s < sectors; s++) {
      const got = aNow.subarray(s * 512, (s + 1) * 512);
      if (Buffer.compare(got, a.subarray(s * 512, (s + 1) * 512)) === 0) continue;
      if (!(okValues.has(got[0]!) && got.every((x) => x === got[0]))) unexplained.push(s);
    }
    expect(unexplained).toEqual([]);
    expect(Buffer.compare(readFileSync(bImg.path), bImg.data)).toBe(0);
    // The victim's: every round's write, in order, over the original.
    const v = victimImg.data.slice();
    for (let r = 0; r < stopped.rounds; r++) {
      const w = victimRound(r, v.length / 512);
      for (let j = 0; j < w.count * 512; j++) v[w.sector * 512 + j] = w.byte(j);
    }
    expect(statSync(victimImg.path).size).toBe(v.length);
    expect(Buffer.compare(readFileSync(victimImg.path), v)).toBe(0);
  });
});
