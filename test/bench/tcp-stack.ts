/**
 * The guest kernel's TCP alone, for profiling: two IPv4 stacks on the in-memory wire of the TCP
 * tests (guest-kernel/test/helpers/tcp-wire.ts: TSO frames cut by netback's own function, receive
 * checksums verified as netback does) in this one process — no domains, rings or events between
 * processes. What is left is the stacks' own cost per byte, which `node --cpu-prof` can see:
 *
 *   npx tsx test/bench/tcp-stack.ts 256                 # one 256 MiB transfer, as pnpm bench tcp's
 *   npx tsx test/bench/tcp-stack.ts 64 0.0005           # the same with 0.05 % of frames lost
 *   node --cpu-prof --import tsx test/bench/tcp-stack.ts 256
 *
 * It prints the rate (both stacks and the cutting share one thread, so this is a floor under what
 * two guests could do on two cores), how many data segments each ACK covered, and the sender's
 * retransmissions (the wire's losses come from a seeded generator, so a run repeats).
 */
import { tcpWire } from "../../guest-kernel/test/helpers/tcp-wire.ts";
import { BULK_CHUNK } from "../guests/tcp-bench.ts";

const mib = Number(process.argv[2] ?? 64);
const loss = Number(process.argv[3] ?? 0);
const { a, b, stats } = tcpWire({ impair: { loss, seed: 7 } });
const server = b.tcp.listen(5001);
const received = (async () => {
  const s = (await server.accept())!;
  let bytes = 0;
  let t0 = 0;
  for await (const chunk of s) {
    if (bytes === 0) t0 = performance.now();
    bytes += chunk.length;
  }
  return { bytes, ms: performance.now() - t0 };
})();
const s = await a.tcp.connect("10.0.0.2", 5001);
const chunk = new Uint8Array(BULK_CHUNK).map((_, i) => i & 0xff);
for (let sent = 0; sent < mib * 1024 * 1024; sent += chunk.length) await s.write(chunk);
await s.end();
const { bytes, ms } = await received;
const segments = b.stats().counters["tcp.segments-in"] ?? 0;
const sender = a.stats().counters;
const acks = sender["tcp.segments-in"] ?? 0;
console.log(
  `${mib} MiB in ${ms.toFixed(0)} ms: ${((bytes * 8) / (ms / 1000) / 1e9).toFixed(2)} Gbit/s; ` +
    `${segments} segments, ${acks} ACKs (${(segments / acks).toFixed(1)} segments per ACK); ` +
    `${stats.dropped} frames lost, ${sender["tcp.fast-retransmits"] ?? 0} fast retransmits, ` +
    `${sender["tcp.retransmit-timeouts"] ?? 0} timeouts`,
);
process.exit(0);
