/**
 * The vmxnet drivers alone, for profiling: netfront → netback → dom0's bridge → netback → netfront
 * in one process (test/drivers/net-harness.ts plays the hypervisor), no domains, no events between
 * processes. What is left is the drivers' own cost per frame, which `node --cpu-prof` can see:
 *
 *   npx tsx test/bench/net-drivers.ts tso 2000      # 64 KiB TSO frames, Gbit/s
 *   npx tsx test/bench/net-drivers.ts lro 2000      # the same, taken whole (large receive, as `pnpm bench net`)
 *   npx tsx test/bench/net-drivers.ts small 200000  # 64-byte frames, frames/s
 *   node --cpu-prof --import tsx test/bench/net-drivers.ts tso 2000
 *
 * The sender keeps at most 112 receiver-side frames in flight, as `pnpm bench net` does.
 */
import { TCP_HDRS, tcpFrame } from "../drivers/net-frames.ts";
import { lan, until } from "../drivers/net-harness.ts";

const mode = process.argv[2] === "small" ? "small" : process.argv[2] === "lro" ? "lro" : "tso";
const frames = Number(process.argv[3] ?? (mode === "small" ? 200_000 : 2000));
const { guests } = await lan(2, mode === "lro" ? { lro: true, rxcsum: true } : {});
const [a, b] = [guests[0]!, guests[1]!];
const big = tcpFrame({
  src: a.mac,
  dst: b.mac,
  payload: Buffer.alloc(16 * 4096 - TCP_HDRS, 7),
  noChecksums: true,
});
const small = Buffer.alloc(64);
Buffer.from(b.mac.split(":").map((h) => parseInt(h, 16))).copy(small, 0);
Buffer.from(a.mac.split(":").map((h) => parseInt(h, 16))).copy(small, 6);
small.writeUInt16BE(0x88b5, 12);
let got = 0;
b.front.onFrame(() => void got++);
const segments = mode === "tso" ? Math.ceil((big.length - TCP_HDRS) / 1448) : 1;
// In flight: 112 receiver-side frames, or with large receive 1 MiB of TSO frames, as `pnpm bench net`.
const window = mode === "lro" ? 16 : 112;
const t0 = performance.now();
let sent = 0;
for (let i = 0; i < frames; i++) {
  while (sent - got > window - segments) await new Promise((r) => setImmediate(r));
  if (mode !== "small") await a.front.send(big, { tso: { mss: 1448, hdrLen: TCP_HDRS } });
  else await a.front.send(small);
  sent += segments;
}
await until(() => got === frames * segments, "every frame arrives");
const s = (performance.now() - t0) / 1000;
console.log(
  mode !== "small"
    ? `${frames} TSO frames of 64 KiB: ${((frames * big.length * 8) / s / 1e9).toFixed(2)} Gbit/s`
    : `${frames} frames of 64 bytes: ${(frames / s / 1000).toFixed(0)} k frames/s`,
);
process.exit(0);
