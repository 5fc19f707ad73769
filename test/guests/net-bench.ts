/**
 * One of two guests for `pnpm bench net` (test/bench/net.ts): `role=tx` sends, `role=rx` receives,
 * through dom0's bridge, in two modes, one after the other. `tso=N`: TCP/IPv4 frames of 64 KiB
 * handed to netfront with TSO (they cross whole to a receiver that takes large frames, as this one
 * does; counted as the 46 segments of MSS 1448 they hold); `small=N`: 64-byte frames. `runs=R`: R
 * runs of N frames in each mode (a mode given no N is left out). Flow control keeps every frame:
 * the receiver acks what it has every ACK_EVERY segments and the sender keeps at most a window of
 * segments in flight — 512 small frames, 1 MiB of TSO — which the receiver's posted buffers and
 * netback's rx backlog hold. The receiver times each run from its first frame to its last and
 * prints `{"phase":"run","mode":…,"ms":…,"bytes":…,"frames":…}` (bytes as the sender handed them
 * to netfront), and `{"phase":"done","mode":…}` after a mode's last run. The sender starts a mode
 * once the host writes its name to data/go, so the host can sample CPU first.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

const TYPE_DATA = 0x88b5;
const TYPE_HELLO = 0x88b6;
const TYPE_ACK = 0x88b7;
const MSS = 1448;
const HDRS = 54;
const TSO_PAYLOAD = 16 * 4096 - HDRS; // as much as 16 descriptors carry
/**
 * Small frames in flight: more than the receiver's 128 posted head buffers, whose rest waits in
 * netback's rx backlog (2 MiB) until the receiver posts buffers again, so that no stage waits for a
 * round trip of acks. With 112 (what the ring alone holds) the runs waited on those round trips:
 * 512 moved 16-31 % more frames at 13-22 % less CPU per frame (A/B alternated three times); 2048
 * no more than 512.
 */
const WINDOW_SMALL = 512;
/** TSO frames: 1 MiB in flight, a TCP receive window's worth (netback's backlog holds 2 MiB). */
const WINDOW_TSO_FRAMES = 16;
const ACK_EVERY = 16;

const macBytes = (m: string) => Uint8Array.from(m.split(":").map((h) => parseInt(h, 16)));

function ether(dst: Uint8Array, src: Uint8Array, type: number, length: number): Uint8Array {
  const f = new Uint8Array(length);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  return f;
}

/** A 64 KiB TCP/IPv4 frame for TSO (checksums left to dom0). */
function tsoFrame(dst: Uint8Array, src: Uint8Array): Uint8Array {
  const f = ether(dst, src, 0x0800, HDRS + TSO_PAYLOAD);
  const v = new DataView(f.buffer);
  f[14] = 0x45;
  v.setUint16(16, 0xffff);
  f[22] = 64;
  f[23] = 6;
  f.set([10, 8, 0, 1, 10, 8, 0, 2], 26);
  v.setUint16(34, 40000);
  v.setUint16(36, 5001);
  f[46] = 0x50;
  f[47] = 0x10;
  for (let i = HDRS; i < f.length; i++) f[i] = i & 0xff;
  return f;
}

export default async function main(k: KernelHandle): Promise<void> {
  const arg = (name: string) => new RegExp(`(?:^|\\s)${name}=(\\S+)`).exec(k.cmdline)?.[1];
  const peer = macBytes(arg("peer")!);
  const runs = Number(arg("runs") ?? "3");
  const modes = (["tso", "small"] as const).filter((m) => arg(m) !== undefined);
  // The mode being run; both sides take the modes in the same order.
  let tso = false;
  let frames = 0;
  let segsPerFrame = 1;
  const enter = (mode: (typeof modes)[number]) => {
    tso = mode === "tso";
    frames = Number(arg(mode));
    segsPerFrame = tso ? Math.ceil(TSO_PAYLOAD / MSS) : 1;
  };
  const eth = k.net.get("eth0");
  const me = macBytes(eth.mac);

  let heard = false;
  let got = 0; // receiver: data frames (segments) this run
  let acked = 0; // sender: what the receiver has acked this run
  let t0 = 0;
  let wake = () => {};
  const ack = (n: number) => {
    const a = ether(peer, me, TYPE_ACK, 60);
    new DataView(a.buffer).setUint32(14, n);
    void eth.send(a);
  };
  eth.onFrame((f) => {
    const type = (f[12]! << 8) | f[13]!;
    if (type === 0x0800 || type === TYPE_DATA) {
      if (got === 0) t0 = k.time.uptimeMs();
      // A TSO frame arrives as its segments, or whole (large receive): count the segments it holds.
      const before = got;
      got += type === 0x0800 ? Math.max(1, Math.ceil((f.length - HDRS) / MSS)) : 1;
      if (Math.floor(got / ACK_EVERY) > Math.floor(before / ACK_EVERY)) ack(got);
      if (got >= frames * segsPerFrame) wake();
      return;
    }
    if (type === TYPE_ACK) acked = Math.max(acked, new DataView(f.buffer, f.byteOffset).getUint32(14));
    else if (type === TYPE_HELLO) {
      if (!heard) void eth.send(ether(peer, me, TYPE_HELLO, 60));
      heard = true;
    }
    wake();
  });
  const until = async (cond: () => boolean, resend?: () => void) => {
    while (!cond()) {
      resend?.();
      await Promise.race([new Promise<void>((r) => (wake = r)), k.sleep(resend ? 20 : 1000)]);
    }
  };
  await until(
    () => heard,
    () => void eth.send(ether(new Uint8Array(6).fill(0xff), me, TYPE_HELLO, 60)),
  );
  k.print(JSON.stringify({ phase: "ready" }));

  if (arg("role") === "rx") {
    for (const mode of modes) {
      enter(mode);
      const total = frames * segsPerFrame;
      for (let r = 0; r < runs; r++) {
        await until(() => got >= total);
        const ms = k.time.uptimeMs() - t0;
        if (got % ACK_EVERY !== 0) ack(got); // the last (an ACK_EVERY multiple was acked already)
        const bytes = frames * (tso ? HDRS + TSO_PAYLOAD : 64);
        k.print(JSON.stringify({ phase: "run", mode, run: r, ms, bytes, frames, segments: got }));
        got = 0;
      }
      k.print(JSON.stringify({ phase: "done", mode, stats: eth.stats() }));
    }
    return;
  }

  let go = "";
  let started = () => {};
  void k.xenstore.watch(
    "data/go",
    () => void k.xenstore.tryRead("data/go").then((v) => v && ((go = v), started())),
  );
  for (const mode of modes) {
    enter(mode);
    if (go !== mode) await new Promise<void>((r) => (started = () => go === mode && r()));
    const total = frames * segsPerFrame;
    const window = tso ? WINDOW_TSO_FRAMES * segsPerFrame : WINDOW_SMALL;
    const frame = tso ? tsoFrame(peer, me) : ether(peer, me, TYPE_DATA, 64);
    const offload = tso ? { tso: { mss: MSS, hdrLen: HDRS } } : undefined;
    for (let r = 0; r < runs; r++) {
      acked = 0;
      let sent = 0;
      for (let i = 0; i < frames; i++) {
        if (sent + segsPerFrame - acked > window) await until(() => sent + segsPerFrame - acked <= window);
        await eth.send(frame, offload);
        sent += segsPerFrame;
      }
      await until(() => acked >= total);
    }
  }
}
