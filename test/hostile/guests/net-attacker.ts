/**
 * A guest that turns its first vif against dom0's netback. It takes vif 0 from its kernel as a raw
 * frontend (net-raw-front.ts) and keeps vif 1 (eth1, its kernel's netfront, same bridge) as the
 * honest listener. Then, one case at a time, it writes descriptors netback must refuse — bad lengths,
 * unknown grants, 17 descriptors, no end of frame, lying offload fields, a frame past the MTU —
 * with good frames in between, among them the XSA-423/432 shapes: a frame whose Ethernet/IP/TCP
 * headers are spread over many small fragments (as a plain frame, and as a TSO frame), which must
 * arrive whole and exact. Then rx buffers that lie (past their page, unknown grants, none at all),
 * a control page and completion rings full of junk, and a burst of bad and good frames across the
 * ring's wrap. For each case it reports what netback's counters (xenstore statistics/) and its
 * completions said, and what eth1 received; the test checks it all.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import { RawVif, page, type RawTxDesc } from "./net-raw-front.ts";

const EOP = 1 << 0;
const CQ = 1 << 1;
const OM = (mode: number) => mode << 4;
const OM_CSUM = 2;
const OM_TSO = 3;
const F_TXCSUM = 1 << 1;
const F_TSO = 1 << 2;
const RXC_SOP = 1 << 0;
const RXC_EOP = 1 << 1;
const RXC_ERR = 1 << 2;
const HDRS = 54;
const BAD_GREF = 0x7fff_0000;

const macBytes = (m: string) => Uint8Array.from(m.split(":").map((h) => parseInt(h, 16)));
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** RFC 1071 sum of `parts` (each even-length except perhaps the last), folded. */
function sum16(parts: Uint8Array[]): number {
  let s = 0;
  const all = parts.flatMap((p) => [...p]);
  for (let i = 0; i < all.length; i += 2) s += (all[i]! << 8) | (all[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** A TCP/IPv4 frame; checksums filled in unless `raw` (TSO: the backend fills them per segment). */
function tcpFrame(dst: Uint8Array, src: Uint8Array, payload: Uint8Array, raw = false): Uint8Array {
  const f = new Uint8Array(HDRS + payload.length);
  const v = new DataView(f.buffer);
  f.set(dst, 0);
  f.set(src, 6);
  v.setUint16(12, 0x0800);
  f[14] = 0x45;
  v.setUint16(16, Math.min(0xffff, 40 + payload.length));
  v.setUint16(18, 7);
  v.setUint16(20, 0x4000);
  f[22] = 64;
  f[23] = 6;
  f.set([10, 9, 0, 1, 10, 9, 0, 2], 26);
  v.setUint16(34, 33333);
  v.setUint16(36, 80);
  v.setUint32(38, 1_000_000);
  f[46] = 0x50;
  f[47] = 0x18; // ACK PSH
  v.setUint16(48, 65535);
  f.set(payload, HDRS);
  if (raw) return f;
  v.setUint16(24, ~sum16([f.subarray(14, 34)]) & 0xffff);
  v.setUint16(50, tcpSum(f));
  return f;
}

function tcpSum(f: Uint8Array): number {
  const tcpLen = f.length - 34;
  const pseudo = new Uint8Array(12);
  pseudo.set(f.subarray(26, 34));
  pseudo[9] = 6;
  new DataView(pseudo.buffer).setUint16(10, tcpLen);
  const seg = f.slice(34);
  seg[16] = 0;
  seg[17] = 0;
  return ~sum16([pseudo, seg]) & 0xffff || 0xffff;
}

const checksumsOk = (f: Uint8Array) =>
  sum16([f.subarray(14, 34)]) === 0xffff && new DataView(f.buffer, f.byteOffset).getUint16(50) === tcpSum(f);

export default async function main(k: KernelHandle): Promise<void> {
  const eth1 = k.net.get("eth1");
  const heard: Uint8Array[] = [];
  let onHeard = () => {};
  const vif0Mac = macBytes(await k.xenstore.read("device/vif/0/mac"));
  eth1.onFrame((f) => {
    if (!same(f.subarray(6, 12), vif0Mac)) return; // the victims' hellos are flooded here too
    heard.push(f);
    onHeard();
  });
  const eth1Mac = macBytes(eth1.mac);
  const raw = await RawVif.takeOver(k, 0, F_TXCSUM | F_TSO);
  k.print(JSON.stringify({ phase: "took over", backend: raw.be }));
  const stat = async (key: string) => Number((await k.xenstore.tryRead(`${raw.be}/statistics/${key}`)) ?? 0);
  const stats = async () => ({
    txFrames: await stat("tx-frames"),
    txErrors: await stat("tx-errors"),
    rxFrames: await stat("rx-frames"),
    rxDropped: await stat("rx-dropped"),
  });
  /** Resolves once `ok` holds for netback's published counters (they are written within 100 ms). */
  const statsReach = async (ok: (s: Awaited<ReturnType<typeof stats>>) => boolean) => {
    let wake = () => {};
    const unwatch = await k.xenstore.watch(`${raw.be}/statistics`, () => wake());
    try {
      for (;;) {
        const changed = new Promise<void>((r) => (wake = r));
        const s = await stats();
        if (ok(s)) return s;
        await changed;
      }
    } finally {
      await unwatch();
    }
  };
  const heardCount = async (n: number) => {
    while (heard.length < n) await new Promise<void>((r) => (onHeard = r));
  };

  // Pages with the frames the cases point into.
  const plain = tcpFrame(
    eth1Mac,
    vif0Mac,
    Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff),
  );
  const p1 = page(k);
  p1.bytes.set(plain);
  const spare = page(k);
  const good = (): RawTxDesc[] => [{ gref: p1.ref, offset: 0, len: plain.length, flags: EOP | CQ }];

  const cases: Record<string, unknown> = {};
  /** One tx case: its descriptors, then what the counters, completions and eth1 said. */
  const txCase = async (name: string, descs: RawTxDesc[], frames = 0, sopLast = true) => {
    const before = await stats();
    const heardBefore = heard.length;
    raw.putTx(descs, sopLast);
    raw.kick();
    const after = await statsReach((s) => s.txFrames + s.txErrors > before.txFrames + before.txErrors);
    await heardCount(heardBefore + frames);
    cases[name] = {
      sent: after.txFrames - before.txFrames,
      errors: after.txErrors - before.txErrors,
      completions: raw.txCompletions().map((c) => c.status),
      heard: heard.length - heardBefore,
    };
    k.print(JSON.stringify({ case: name, ...(cases[name] as object) })); // progress, for a failing test's log
    return heard.slice(heardBefore);
  };

  const first = await txCase("good frame", good(), 1);
  cases["good frame exact"] = same(first[0]!, plain);
  await txCase("length 0", [{ gref: p1.ref, offset: 0, len: 0, flags: EOP | CQ }]);
  await txCase("fragment past its page", [{ gref: p1.ref, offset: 4000, len: 200, flags: EOP | CQ }]);
  await txCase("unknown grant", [{ gref: BAD_GREF, offset: 0, len: 200, flags: EOP | CQ }]);
  await txCase("shorter than a header", [{ gref: p1.ref, offset: 0, len: 10, flags: EOP | CQ }]);
  await txCase(
    "past the MTU",
    Array.from({ length: 16 }, (_, i) => ({
      gref: spare.ref,
      offset: 0,
      len: 4096,
      flags: i === 15 ? EOP | CQ : 0,
    })),
  );
  await txCase(
    "17 descriptors",
    Array.from({ length: 17 }, (_, i) => ({
      gref: p1.ref,
      offset: i * 12,
      len: 12,
      flags: i === 16 ? EOP | CQ : 0,
    })),
  );
  await txCase(
    "no end of frame",
    [0, 1, 2].map((i) => ({ gref: p1.ref, offset: i * 40, len: 40, flags: 0 })),
  );
  await txCase("offload mode 1", [{ ...good()[0]!, flags: EOP | CQ | OM(1) }]);
  await txCase("checksum start past the frame", [
    { ...good()[0]!, hdr_len: 5000, msscof: 5010, flags: EOP | CQ | OM(OM_CSUM) },
  ]);
  await txCase("checksum field before its start", [
    { ...good()[0]!, hdr_len: 34, msscof: 20, flags: EOP | CQ | OM(OM_CSUM) },
  ]);
  await txCase("TSO with MSS 0", [{ ...good()[0]!, hdr_len: HDRS, msscof: 0, flags: EOP | CQ | OM(OM_TSO) }]);
  await txCase("TSO with hdr_len that lies", [
    { ...good()[0]!, hdr_len: 20, msscof: 100, flags: EOP | CQ | OM(OM_TSO) },
  ]);

  // XSA-423/432 shapes: the headers over 15 fragments of 1..4 bytes, scattered backwards in a
  // page, the rest in the 16th: netback must copy it out whole before looking at any header.
  const sizes = [1, 2, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4];
  const scattered = page(k);
  const frags: RawTxDesc[] = [];
  let from = 0;
  let at = 4096 - plain.length;
  for (const n of sizes) {
    at -= 8; // a gap between fragments, placed backwards
    scattered.bytes.set(plain.subarray(from, from + n), at);
    frags.push({ gref: scattered.ref, offset: at, len: n, flags: 0 });
    from += n;
  }
  scattered.bytes.set(plain.subarray(from), 4096 - (plain.length - from));
  frags.push({
    gref: scattered.ref,
    offset: 4096 - (plain.length - from),
    len: plain.length - from,
    flags: EOP | CQ,
  });
  const split = await txCase("16 fragments, headers across them", frags, 1);
  cases["16 fragments exact"] = same(split[0]!, plain);

  // The same with TSO: headers in 8 fragments, 9000 payload bytes in 8 more.
  const payload = Uint8Array.from({ length: 9000 }, (_, i) => (i * 31 + 1) & 0xff);
  const big = tcpFrame(eth1Mac, vif0Mac, payload, true);
  const tsoPage = page(k);
  const tsoData = [page(k), page(k), page(k), page(k)];
  const tso: RawTxDesc[] = [];
  for (let i = 0; i < 8; i++) {
    const n = i < 7 ? 7 : HDRS - 49;
    tsoPage.bytes.set(big.subarray(i * 7, i * 7 + n), i * 100);
    tso.push({ gref: tsoPage.ref, offset: i * 100, len: n, flags: 0 });
  }
  for (let i = 0; i < 8; i++) {
    const part = big.subarray(HDRS + i * 1125, HDRS + (i + 1) * 1125);
    const pg = tsoData[i % 4]!;
    pg.bytes.set(part, (i >> 2) * 1125);
    tso.push({ gref: pg.ref, offset: (i >> 2) * 1125, len: 1125, flags: i === 7 ? EOP | CQ : 0 });
  }
  tso[0] = { ...tso[0]!, hdr_len: HDRS, msscof: 1000, flags: OM(OM_TSO) };
  const segs = await txCase("TSO, headers across 8 fragments", tso, 9);
  const joined = segs.flatMap((s) => [...s.subarray(HDRS)]);
  cases["TSO segments"] = {
    count: segs.length,
    payloadExact: same(Uint8Array.from(joined), payload),
    checksumsOk: segs.every(checksumsOk),
    largest: Math.max(...segs.map((s) => s.length)),
  };

  // Rx: buffers that lie, and none at all. eth1 sends vif0 a frame for each.
  const toVif0 = tcpFrame(
    vif0Mac,
    eth1Mac,
    Uint8Array.from({ length: 200 }, (_, i) => i & 0xff),
  );
  const rxPage = page(k);
  const rxCase = async (name: string, bufs: { gref: number; offset: number; len: number }[]) => {
    const before = await stats();
    if (bufs.length > 0) raw.postRx(0, bufs);
    await eth1.send(toVif0);
    const after = await statsReach((s) => s.rxFrames + s.rxDropped > before.rxFrames + before.rxDropped);
    const comps = raw.rxCompletions();
    cases[name] = {
      delivered: after.rxFrames - before.rxFrames,
      dropped: after.rxDropped - before.rxDropped,
      completions: comps.map((c) => c.flags & (RXC_SOP | RXC_EOP | RXC_ERR)),
      exact:
        comps.length === 1 &&
        !(comps[0]!.flags & RXC_ERR) &&
        same(rxPage.bytes.subarray(0, comps[0]!.len), toVif0),
    };
  };
  await rxCase("rx: buffer past its page", [{ gref: rxPage.ref, offset: 2048, len: 4000 }]);
  await rxCase("rx: unknown grant", [{ gref: BAD_GREF, offset: 0, len: 2048 }]);
  await rxCase("rx: buffer of 0 bytes", [{ gref: rxPage.ref, offset: 0, len: 0 }]);
  await rxCase("rx: good buffer", [{ gref: rxPage.ref, offset: 0, len: 2048 }]);

  // No buffers at all: netback holds frames for us in a bounded backlog, and drops only what
  // finds it full. Frames numbered in their last byte go until the first drop; then one good buffer
  // and a kick (what a frontend does when netback asks with update_rx_prod) bring the oldest.
  {
    const before = await stats();
    const numbered = (i: number) => {
      const f = toVif0.slice();
      f[f.length - 1] = i & 0xff;
      return f;
    };
    let sent = 0;
    for (;;) {
      for (let j = 0; j < 256; j++) await eth1.send(numbered(sent++));
      const now = await stats();
      if (now.rxDropped > before.rxDropped) break;
      if (sent > 100_000) break; // no bound at all: the test reports it
    }
    const full = await stats();
    raw.postRx(0, [{ gref: rxPage.ref, offset: 0, len: 2048 }]);
    raw.kick();
    const after = await statsReach((s) => s.rxFrames > full.rxFrames);
    const comps = raw.rxCompletions();
    cases["rx: no buffers"] = {
      sent,
      queuedAtLeast: full.rxFrames === before.rxFrames ? sent - 256 : -1,
      delivered: after.rxFrames - full.rxFrames,
      oldestFirst: comps.length === 1 && same(rxPage.bytes.subarray(0, comps[0]!.len), numbered(0)),
    };
  }

  // Junk where netback only writes or never looks: the control page, both completion rings.
  raw.bytes("ctrl").fill(0xff);
  raw.bytes("tx-comp-ring").fill(0xff);
  raw.bytes("rx-comp-ring").fill(0xff);
  await txCase("good frame after junk", good(), 1);

  // A burst across the ring's wrap: 300 rounds of an unknown grant and a good frame.
  const burstBefore = await stats();
  const heardBefore = heard.length;
  for (let i = 0; i < 300; i++) {
    raw.putTx([{ gref: BAD_GREF, offset: 0, len: 100, flags: EOP | CQ }]);
    raw.putTx(good());
    if (i % 50 === 49) {
      raw.kick();
      const target = (i + 1) * 2;
      await statsReach(
        (s) => s.txFrames + s.txErrors - burstBefore.txFrames - burstBefore.txErrors >= target,
      );
    }
  }
  await heardCount(heardBefore + 300);
  const burstAfter = await stats();
  cases.burst = {
    sent: burstAfter.txFrames - burstBefore.txFrames,
    errors: burstAfter.txErrors - burstBefore.txErrors,
    heard: heard.length - heardBefore,
    exact: heard.slice(heardBefore).every((f) => same(f, plain)),
  };
  k.print(JSON.stringify({ phase: "done", cases, eth1: eth1.stats() }));
  await new Promise<never>(() => {}); // stay up: the test checks that nobody crashed
}
