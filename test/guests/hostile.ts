/**
 * A hostile raw guest: every kind of bad hypercall argument a guest can make, each reported with the
 * errno (or GNTST status) it got. Then it reports which frames its worker holds, so the test can check
 * it never obtained a frame it was not given.
 */
import { DOMID_SELF, GNTMAP_host_map } from "@pvkit/abi/layout";
import { FOREIGN_BASE } from "@pvkit/guest-kernel/arch/memory";
import { PAGE, arch, arg, errnoOf, hc, memory, poweroff, report } from "./raw.ts";

const victim = Number(arg("victim"));
const pfns = (list: number[]) => {
  memory.write(5 * PAGE, new Uint8Array(new BigUint64Array(list.map(BigInt)).buffer));
  return BigInt(5 * PAGE);
};
const reservation = (list: number[], domid = DOMID_SELF) => ({
  extent_start: pfns(list),
  nr_extents: BigInt(list.length),
  extent_order: 0,
  domid,
});
const r: Record<string, unknown> = {};

// Memory: another domain's physmap, a pointer outside our memory, past the quota.
r.populateForeign = errnoOf(() => hc.memoryOp.populatePhysmap(reservation([900], victim)));
r.populateBadPointer = errnoOf(() =>
  hc.memoryOp.populatePhysmap({ extent_start: 1n << 45n, nr_extents: 1n, domid: DOMID_SELF }),
);
const quota = arch.maxPages;
const beyond = Array.from({ length: 8 }, (_, i) => quota + 100 + i);
r.populatePastQuota = hc.memoryOp.populatePhysmap(reservation(beyond));
r.decreaseUnpopulated = hc.memoryOp.decreaseReservation(reservation([quota + 5000]));
r.currentForeign = errnoOf(() => hc.memoryOp.currentReservation(victim));
r.extentOrder = errnoOf(() => hc.memoryOp.populatePhysmap({ ...reservation([quota - 1]), extent_order: 9 }));

// Privileged operations.
r.domctlPause = errnoOf(() => hc.domctl.pausedomain(victim));
r.domctlDestroy = errnoOf(() => hc.domctl.destroydomain(victim));
r.sysctlPhysinfo = errnoOf(() => hc.sysctl.physinfo({}));
r.pvkitBuild = errnoOf(() => hc.pvkitOp.build({ domid: victim, nr_pages: 16n }));
r.remoteShutdown = errnoOf(() => hc.schedOp.remoteShutdown({ domain_id: victim, reason: 0 }));
r.consoleRead = errnoOf(() => hc.consoleIo.read(16));

// Event channels: someone else's ports, ports that do not exist.
r.allocForeign = errnoOf(() => hc.eventChannelOp.allocUnbound({ dom: victim, remote_dom: DOMID_SELF }));
r.sendNoSuchPort = errnoOf(() => hc.eventChannelOp.send({ port: 4000 }));
r.sendHugePort = errnoOf(() => hc.eventChannelOp.send({ port: 0xffffffff }));
r.bindForeignPort = errnoOf(() => hc.eventChannelOp.bindInterdomain({ remote_dom: victim, remote_port: 1 }));
r.statusForeign = errnoOf(() => hc.eventChannelOp.status({ dom: victim, port: 1 }));

// Grants: forged refs, a domain that granted us nothing, a nonexistent domain, a bad handle.
const map = (ref: number, dom: number) =>
  hc.grantTableOp.mapGrantRef([{ host_addr: BigInt(FOREIGN_BASE), flags: GNTMAP_host_map, ref, dom }])[0]!
    .status;
r.mapForgedRef = map(99999, victim);
r.mapUngranted = map(8, victim);
r.mapNoDomain = map(8, 4000);
r.unmapBadHandle = hc.grantTableOp.unmapGrantRef([
  { host_addr: BigInt(FOREIGN_BASE), dev_bus_addr: 0n, handle: 777 },
])[0]!.status;

// Raw traps: a struct pointer far outside memory, an unknown hypercall, an unknown sub-op, a value
// register out of its type's range.
const t = arch.hc as unknown as { transport: { trap(op: number, a: bigint[]): bigint } };
r.badStructPointer = Number(t.transport.trap(32, [4n, 1n << 50n]));
r.unknownHypercall = Number(t.transport.trap(63, []));
r.unknownSubop = Number(t.transport.trap(32, [99n, BigInt(5 * PAGE)]));
r.vcpuIdOutOfRange = Number(t.transport.trap(24, [2n, 1n << 40n, 0n]));

r.held = memory.heldFrames();
report(r);
poweroff();
