/**
 * Two raw guests that talk: "a" grants a page to "b" and they exchange events both ways over one
 * interdomain channel (the host allocated `port` in a, unbound towards b; b binds it and says hello
 * first, since an event sent to an unbound port is dropped). Events coalesce, as in Xen, so neither
 * side counts them: each waits until the state it expects is visible in the shared page (a's round
 * number at ROUND, b's acknowledgement at ACK). b maps the grant twice, writes a reply, grant-copies
 * it into its own page, and drops one mapping per round while a reports its grant entry's flags.
 */
import {
  DOMID_SELF,
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTMAP_host_map,
  GTF_permit_access,
  GTF_reading,
  GTF_writing,
} from "@pvkit/abi/layout";
import { FOREIGN_BASE } from "@pvkit/guest-kernel/arch/memory";
import { PAGE, arch, arg, hc, memory, poweroff, report, text, waitPort } from "./raw.ts";

const role = arg("role");
const peer = Number(arg("peer"));
const REF = 8;
const DATA_PFN = 10;
const ROUND = 100;
const ACK = 104;
const u32 = (addr: number) => new DataView(memory.read(addr, 4).buffer).getUint32(0, true);
const bytes32 = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);

async function until(port: number, ready: () => boolean): Promise<void> {
  while (!ready()) await waitPort(port);
}

if (role === "a") {
  const port = Number(arg("port"));
  const page = DATA_PFN * PAGE;
  const [st] = hc.grantTableOp.setupTable([{ dom: DOMID_SELF, nr_frames: 1, frame_list: BigInt(5 * PAGE) }]);
  const mfn = Number(new DataView(memory.read(5 * PAGE, 8).buffer).getBigUint64(0, true));
  const table = arch.mapFrames([mfn])[0]!;
  memory.write(page, new TextEncoder().encode("hello from A"));
  const e = REF * 8;
  table.setUint16(e + 2, peer, true);
  table.setUint32(e + 4, DATA_PFN, true);
  table.setUint16(e, GTF_permit_access, true);
  const flags = () => table.getUint16(e, true) & (GTF_reading | GTF_writing);
  /**
   * The flags the mappings hold. A grant copy in flight sets GTF_reading or GTF_writing for its
   * duration, as in Xen (b's acknowledgement is one, its peek in round 4 another), and a's thread
   * may look in the middle of it: a flag that goes away within a few yields was a copy's; one that
   * stays is a mapping's.
   */
  const settledFlags = () => {
    let f = flags();
    for (let i = 0; f !== 0 && i < 100; i++) {
      hc.schedOp.yield();
      f = flags();
    }
    return f;
  };
  report({ role, setup: st!.status });
  await waitPort(port); // b's hello: its end is bound
  for (let round = 1; round <= 4; round++) {
    memory.write(page + ROUND, bytes32(round));
    hc.eventChannelOp.send({ port });
    await until(port, () => u32(page + ACK) >= round);
    report({ role, round, flags: round >= 3 ? settledFlags() : flags(), data: text(page, 12) });
  }
  poweroff();
} else {
  const { local_port: port } = hc.eventChannelOp.bindInterdomain({
    remote_dom: peer,
    remote_port: Number(arg("remote")),
  });
  hc.eventChannelOp.send({ port });
  const map = (addr: number) =>
    hc.grantTableOp.mapGrantRef([
      { host_addr: BigInt(addr), flags: GNTMAP_host_map, ref: REF, dom: peer },
    ])[0]!;
  /** Writes our acknowledgement into a's page by grant copy (works with or without a mapping). */
  const ack = (n: number) => {
    memory.write(12 * PAGE, bytes32(n));
    return hc.grantTableOp.copy([
      {
        source: { u: { gmfn: 12n }, domid: DOMID_SELF, offset: 0 },
        dest: { u: { ref: REF }, domid: peer, offset: ACK },
        len: 4,
        flags: GNTCOPY_dest_gref,
      },
    ])[0]!.status;
  };
  // Binding left our port pending (Xen does that, so nothing sent earlier is lost); a may not have
  // written its grant yet either: map once a's entry is there, waiting for events in between.
  let m1 = map(FOREIGN_BASE);
  while (m1.status !== 0) {
    await waitPort(port);
    m1 = map(FOREIGN_BASE);
  }
  const m2 = map(FOREIGN_BASE + PAGE);
  const round = () => u32(FOREIGN_BASE + PAGE + ROUND);
  await until(port, () => round() >= 1);
  report({
    role,
    round: 1,
    map1: m1.status,
    map2: m2.status,
    read: text(FOREIGN_BASE, 12),
    again: text(FOREIGN_BASE + PAGE, 12),
  });
  memory.write(FOREIGN_BASE, new TextEncoder().encode("reply from B"));
  const [cp] = hc.grantTableOp.copy([
    {
      source: { u: { ref: REF }, domid: peer, offset: 0 },
      dest: { u: { gmfn: 11n }, domid: DOMID_SELF, offset: 0 },
      len: 12,
      flags: GNTCOPY_source_gref,
    },
  ]);
  report({ role, copy: cp!.status, copied: text(11 * PAGE, 12), ack: ack(1) });
  hc.eventChannelOp.send({ port });
  await until(port, () => round() >= 2);
  const [u1] = hc.grantTableOp.unmapGrantRef([
    { host_addr: BigInt(FOREIGN_BASE), dev_bus_addr: 0n, handle: m1.handle },
  ]);
  report({ role, round: 2, unmap1: u1!.status, ack: ack(2) });
  hc.eventChannelOp.send({ port });
  await until(port, () => round() >= 3);
  const [u2] = hc.grantTableOp.unmapGrantRef([
    { host_addr: BigInt(FOREIGN_BASE + PAGE), dev_bus_addr: 0n, handle: m2.handle },
  ]);
  report({ role, round: 3, unmap2: u2!.status, held: memory.heldFrames(), ack: ack(3) });
  hc.eventChannelOp.send({ port });
  // The mapping is gone: round 4 is seen through a grant copy of a's page.
  const peek = () => {
    hc.grantTableOp.copy([
      {
        source: { u: { ref: REF }, domid: peer, offset: ROUND },
        dest: { u: { gmfn: 13n }, domid: DOMID_SELF, offset: 0 },
        len: 4,
        flags: GNTCOPY_source_gref,
      },
    ]);
    return u32(13 * PAGE);
  };
  await until(port, () => peek() >= 4);
  report({ role, round: 4, ack: ack(4) });
  hc.eventChannelOp.send({ port });
  poweroff();
}
