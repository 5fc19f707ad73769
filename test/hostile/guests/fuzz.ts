/**
 * A seeded hypercall fuzzer, as a raw guest: `calls=<n>` raw traps drawn by a small PRNG seeded with
 * `seed=<n>`, weighted towards the real hypercalls and their sub-ops, with argument registers and
 * struct arguments made of the values that break handlers (0, -1, 2^63, pointers into, just past and
 * far outside its memory, random bytes). Every result must be a Xen `long` — an errno in [-4095, -1]
 * or a value >= 0 — and a privileged or unknown hypercall must get -EPERM or -ENOSYS. It counts the
 * results by errno, reports one JSON line on console_io and powers off.
 *
 * It never makes the calls that would stop it legitimately: SCHEDOP_shutdown, _block and _poll (a raw
 * guest has nothing to wake it), a watchdog that could expire, and decrease_reservation of its own
 * pages 0..7 (start_info, the SDK's scratch page, its argument pages).
 */
import * as L from "@pvkit/abi/layout";
import { FOREIGN_BASE } from "@pvkit/guest-kernel/arch/memory";
import { PAGE, arch, hc, memory, poweroff, report } from "../../guests/raw.ts";
import {
  CALLS,
  EDGES,
  FAR,
  KEEP,
  LIST,
  NR_PAGES,
  OTHERS,
  SEED,
  SELF,
  STRUCT,
  STRUCT_LEN,
  U64_MAX,
  below,
  bytes,
  chance,
  domid,
  farPointer,
  num,
  ownPointer,
  pfn,
  pick,
  pointer,
  port,
  put16,
  put32,
  put64,
  reg,
  struct,
  structs,
  subop,
  time,
  u32,
  u64,
  view,
  words,
} from "./fuzz-values.ts";

// ---- Grants: our own table, with random entries, so map and copy sometimes find a real grant. ----

/** Refs the fuzzer writes entries to and names in map/copy most of the time. */
const REFS = 16;
hc.grantTableOp.setupTable([{ dom: L.DOMID_SELF, nr_frames: 1, frame_list: BigInt(LIST) }]);
const grants = arch.mapFrames([Number(new DataView(memory.read(LIST, 8).buffer).getBigUint64(0, true))])[0]!;

/** A random entry (usually granting one of our pages to ourselves) at a random ref. */
function grantSomething(): void {
  const e = below(REFS) * 8;
  grants.setUint32(e + 4, Number(BigInt.asUintN(32, pfn())), true);
  grants.setUint16(e + 2, chance(0.7) ? SELF : domid(), true);
  const flags = [L.GTF_permit_access, L.GTF_permit_access | L.GTF_readonly, 0, u32() & 0xffff];
  grants.setUint16(e, pick(flags), true);
}

const ref = (): number => (chance(0.8) ? below(REFS) : num());
const hostAddr = (): bigint => (chance(0.7) ? BigInt(FOREIGN_BASE + below(REFS) * PAGE) : reg());
/** Handles map_grant_ref gave us lately, so unmap can name live mappings. */
const handles: number[] = [];
let handlesSeen = 0;

// ---- The hypercalls: each returns its five argument registers. ----

/** What to look at once the call being made has succeeded (set by its generator). */
const nothing = () => undefined;
let afterSuccess: () => void = nothing;

function eventChannelOp(): bigint[] {
  const sub = subop([0, 1, 3, 4, 5, 6, 7, 9]);
  switch (sub) {
    case 0n:
      return [
        sub,
        struct(L.EvtchnBindInterdomain.size, (at) => {
          put16(at + L.EvtchnBindInterdomain.offsets.remote_dom, domid());
          put32(at + L.EvtchnBindInterdomain.offsets.remote_port, port());
        }),
      ];
    case 1n:
      return [
        sub,
        struct(L.EvtchnBindVirq.size, (at) => {
          put32(at + L.EvtchnBindVirq.offsets.virq, chance(0.8) ? below(L.NR_VIRQS + 2) : num());
          put32(at + L.EvtchnBindVirq.offsets.vcpu, chance(0.8) ? 0 : num());
        }),
      ];
    case 5n:
      return [
        sub,
        struct(L.EvtchnStatus.size, (at) => {
          put16(at + L.EvtchnStatus.offsets.dom, domid());
          put32(at + L.EvtchnStatus.offsets.port, port());
        }),
      ];
    case 6n:
      return [
        sub,
        struct(L.EvtchnAllocUnbound.size, (at) => {
          put16(at + L.EvtchnAllocUnbound.offsets.dom, domid());
          put16(at + L.EvtchnAllocUnbound.offsets.remote_dom, domid());
        }),
      ];
    case 7n:
      return [sub, struct(L.EvtchnBindIpi.size, (at) => put32(at, chance(0.8) ? 0 : num()))];
    default: // close, send, unmask: a port; or an unknown sub-op
      return [sub, struct(4, (at) => put32(at, port()))];
  }
}

function schedOp(): bigint[] {
  let sub = subop([L.SCHEDOP_yield, L.SCHEDOP_remote_shutdown, L.SCHEDOP_shutdown_code, L.SCHEDOP_watchdog]);
  // shutdown would end us; block and poll would wait for an event nobody sends.
  if (sub === BigInt(L.SCHEDOP_shutdown) || sub === BigInt(L.SCHEDOP_block) || sub === BigInt(L.SCHEDOP_poll))
    sub = BigInt(L.SCHEDOP_yield);
  switch (sub) {
    case BigInt(L.SCHEDOP_remote_shutdown):
      return [
        sub,
        struct(L.SchedRemoteShutdown.size, (at) => {
          put16(at + L.SchedRemoteShutdown.offsets.domain_id, domid());
          put32(at + L.SchedRemoteShutdown.offsets.reason, below(8));
        }),
      ];
    case BigInt(L.SCHEDOP_shutdown_code):
      return [sub, struct(L.SchedShutdown.size, (at) => put32(at, chance(0.7) ? below(8) : num()))];
    case BigInt(L.SCHEDOP_watchdog):
      return [sub, watchdog()];
    default:
      return [sub, reg()];
  }
}

/**
 * A watchdog that can never expire while we run: a new one or a known id, with no timeout (remove)
 * or one of 2^31 s and more. Always crafted, never random bytes, and never read from anywhere else.
 */
function watchdog(): bigint {
  if (chance(0.1)) return farPointer();
  structs(L.SchedWatchdog.size, 1);
  put32(L.SchedWatchdog.offsets.id, pick([0, 0, 1, 2, 3, u32()]));
  put32(L.SchedWatchdog.offsets.timeout, chance(0.3) ? 0 : 0x80000000 + below(0x80000000));
  memory.write(STRUCT, bytes.subarray(0, L.SchedWatchdog.size));
  return BigInt(STRUCT);
}

function memoryOp(): bigint[] {
  const sub = subop([0, 1, 3, 4, 6]);
  switch (sub) {
    case BigInt(L.XENMEM_decrease_reservation):
      return [sub, reservation(true)];
    case BigInt(L.XENMEM_populate_physmap):
    case BigInt(L.XENMEM_increase_reservation):
      return [sub, chance(0.6) ? reservation(false) : struct(L.XenMemoryReservation.size)];
    case BigInt(L.XENMEM_current_reservation):
    case BigInt(L.XENMEM_maximum_reservation):
      return [sub, struct(2, (at) => put16(at, domid()))];
    default:
      return [sub, pointer()];
  }
}

/**
 * A xen_memory_reservation with a pfn list we wrote (only our own list, so a decrease can never name
 * pages 0..7): up to a page of pfns, or a count over the limit, which is refused before any is read.
 */
function reservation(decrease: boolean): bigint {
  const n = chance(0.9) ? below(17) : chance(0.5) ? below(513) : 0;
  const list = new DataView(bytes.buffer, 0, n * 8);
  for (let i = 0; i < n; i++) {
    const p = pfn();
    list.setBigUint64(i * 8, decrease && p < BigInt(KEEP) ? BigInt(KEEP) + p : p, true);
  }
  if (n > 0) memory.write(LIST, bytes.subarray(0, n * 8));
  const o = L.XenMemoryReservation.offsets;
  structs(L.XenMemoryReservation.size, 1);
  put64(o.extent_start, chance(0.95) ? BigInt(LIST) : farPointer());
  put64(o.nr_extents, chance(0.95) ? BigInt(n) : pick([(1n << 16n) + 1n, 1n << 63n, U64_MAX]));
  put32(o.extent_order, chance(0.9) ? 0 : num());
  put16(o.domid, domid());
  memory.write(STRUCT, bytes.subarray(0, L.XenMemoryReservation.size));
  return BigInt(STRUCT);
}

const setTimerOp = (): bigint[] => [time()];

/** The struct each xen_version sub-op fills in. */
const VERSION_STRUCTS: Record<number, number> = {
  1: L.XenExtraversion.size,
  2: L.XenCompileInfo.size,
  3: L.XenCapabilitiesInfo.size,
  4: L.XenChangesetInfo.size,
  5: L.XenPlatformParameters.size,
  6: L.XenFeatureInfo.size,
  8: L.XenDomainHandle.size,
  9: L.XenCommandline.size,
};

function xenVersion(): bigint[] {
  const sub = subop([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  if (sub === BigInt(L.XENVER_get_features))
    return [sub, struct(L.XenFeatureInfo.size, (at) => put32(at, pick([0, 1, 31, 32, num()])))];
  const size = sub < 10n ? VERSION_STRUCTS[Number(sub)] : undefined;
  return [sub, size ? struct(size) : reg()];
}

function consoleIo(): bigint[] {
  const sub = subop([L.CONSOLEIO_write, L.CONSOLEIO_write, L.CONSOLEIO_read]);
  const count = chance(0.6) ? BigInt(below(200)) : pick([reg(), 1n << 20n, (1n << 20n) + 1n]);
  const at = chance(0.7) ? structs(1, Number(count > BigInt(STRUCT_LEN) ? STRUCT_LEN : count)) : pointer();
  return [sub, count, at];
}

function grantTableOp(): bigint[] {
  const sub = subop([0, 0, 1, 2, 5, 5, 6, 8, 10]);
  const count = chance(0.8) ? BigInt(below(5)) : pick([0n, BigInt(below(513)), 513n, reg()]);
  const n = count > 512n ? 1 : Number(count);
  if (chance(0.5)) grantSomething();
  const at = (size: number, craft: (at: number) => void) =>
    chance(0.9) ? structs(size, n, craft) : pointer();
  switch (sub) {
    case BigInt(L.GNTTABOP_map_grant_ref): {
      const ptr = at(L.GnttabMapGrantRef.size, mapGrantRef);
      if (ptr === BigInt(STRUCT)) afterSuccess = () => noteHandles(n);
      return [sub, ptr, count];
    }
    case BigInt(L.GNTTABOP_unmap_grant_ref):
      return [sub, at(L.GnttabUnmapGrantRef.size, unmapGrantRef), count];
    case BigInt(L.GNTTABOP_setup_table):
      return [sub, at(L.GnttabSetupTable.size, setupTable), count];
    case BigInt(L.GNTTABOP_copy):
      return [sub, at(L.GnttabCopy.size, grantCopy), count];
    case BigInt(L.GNTTABOP_query_size):
      return [sub, at(L.GnttabQuerySize.size, (a) => put16(a, domid())), count];
    case BigInt(L.GNTTABOP_set_version):
      return [sub, at(L.GnttabSetVersion.size, (a) => put32(a, pick([0, 1, 1, 2, 3, num()]))), count];
    case BigInt(L.GNTTABOP_get_version):
      return [sub, at(L.GnttabGetVersion.size, (a) => put16(a, domid())), count];
    default:
      return [sub, pointer(), count];
  }
}

function mapGrantRef(at: number): void {
  const o = L.GnttabMapGrantRef.offsets;
  const { GNTMAP_host_map: host, GNTMAP_device_map: device, GNTMAP_readonly: ro } = L;
  put64(at + o.host_addr, hostAddr());
  put32(at + o.flags, pick([host, host, host | ro, host | ro, device, host | device, 0, num()]));
  put32(at + o.ref, ref());
  put16(at + o.dom, chance(0.5) ? L.DOMID_SELF : domid());
}

/** Keeps the handles of the mappings that worked (the last 32). */
function noteHandles(n: number): void {
  const size = L.GnttabMapGrantRef.size;
  const o = L.GnttabMapGrantRef.offsets;
  const out = new DataView(memory.read(STRUCT, Math.min(n * size, STRUCT_LEN)).buffer);
  for (let at = 0; at + size <= out.byteLength; at += size)
    if (out.getInt16(at + o.status, true) === L.GNTST_okay)
      handles[handlesSeen++ % 32] = out.getUint32(at + o.handle, true);
}

function unmapGrantRef(at: number): void {
  const o = L.GnttabUnmapGrantRef.offsets;
  put64(at + o.host_addr, chance(0.5) ? 0n : hostAddr());
  put64(at + o.dev_bus_addr, chance(0.8) ? 0n : reg());
  const known = handles.length > 0 && chance(0.6);
  put32(at + o.handle, known ? pick(handles) : chance(0.6) ? below(32) : num());
}

function setupTable(at: number): void {
  const o = L.GnttabSetupTable.offsets;
  put16(at + o.dom, domid());
  put32(at + o.nr_frames, chance(0.8) ? below(34) : num());
  put64(at + o.frame_list, chance(0.5) ? BigInt(LIST) : pointer());
}

function grantCopy(at: number): void {
  const o = L.GnttabCopy.offsets;
  const side = (p: number) => {
    put64(p, chance(0.5) ? BigInt(ref()) : pfn());
    put16(p + L.GnttabCopyPtr.offsets.domid, chance(0.7) ? L.DOMID_SELF : domid());
    put16(p + L.GnttabCopyPtr.offsets.offset, pick([0, below(PAGE), PAGE - 1, PAGE, 0xffff]));
  };
  side(at + o.source);
  side(at + o.dest);
  put16(at + o.len, pick([0, 1, below(PAGE), PAGE, PAGE + 1, 0xffff]));
  put16(at + o.flags, chance(0.9) ? below(4) : u32());
}

function vcpuOp(): bigint[] {
  const sub = subop([1, 2, 3, 4, 6, 7, 8, 9]);
  const vcpu = chance(0.8) ? 0n : pick([1n, 31n, 32n, (1n << 32n) - 1n, 1n << 32n, reg()]);
  switch (sub) {
    case BigInt(L.VCPUOP_set_periodic_timer): {
      const periods = [0n, 999_999n, 1_000_000n, 10_000_000n, 1_000_000_000n, 1n << 63n, U64_MAX, u64()];
      return [sub, vcpu, struct(L.VcpuSetPeriodicTimer.size, (at) => put64(at, pick(periods)))];
    }
    case BigInt(L.VCPUOP_set_singleshot_timer):
      return [sub, vcpu, struct(L.VcpuSetSingleshotTimer.size, (at) => put64(at, time()))];
    case BigInt(L.VCPUOP_get_runstate_info):
      return [sub, vcpu, struct(L.VcpuRunstateInfo.size)];
    default:
      return [sub, vcpu, reg()];
  }
}

/** domctl and sysctl: a header with a real command and interface version, then random bytes. */
function privilegedCall(cmds: readonly number[], version: number, domain: boolean): bigint[] {
  return [
    structs(128, 1, (at) => {
      put32(at, pick(cmds));
      put32(at + 4, chance(0.8) ? version : num());
      if (domain) put16(at + L.XenDomctlHeader.offsets.domain, domid());
    }),
  ];
}

const domctl = () => privilegedCall([1, 2, 3, 4, 5, 11, 15, num()], L.XEN_DOMCTL_INTERFACE_VERSION, true);
const sysctl = () => privilegedCall([3, 6, num()], L.XEN_SYSCTL_INTERFACE_VERSION, false);
const pvkitOp = (): bigint[] => [subop([0, 1, 2, 3]), struct(L.PvkitBuild.size)];

// ---- The table the fuzzer draws from ----

interface Hypercall {
  name: string;
  /** Its number; none: a number nobody implements, drawn for each call. */
  op?: number;
  weight: number;
  args: () => bigint[];
  /** The only result a domU may get, if there is one. */
  must?: bigint;
}

const HYPERCALLS: Hypercall[] = [
  { name: "event_channel_op", op: L.__HYPERVISOR_event_channel_op, weight: 14, args: eventChannelOp },
  { name: "grant_table_op", op: L.__HYPERVISOR_grant_table_op, weight: 14, args: grantTableOp },
  { name: "memory_op", op: L.__HYPERVISOR_memory_op, weight: 12, args: memoryOp },
  { name: "sched_op", op: L.__HYPERVISOR_sched_op, weight: 6, args: schedOp },
  { name: "vcpu_op", op: L.__HYPERVISOR_vcpu_op, weight: 6, args: vcpuOp },
  { name: "xen_version", op: L.__HYPERVISOR_xen_version, weight: 6, args: xenVersion },
  { name: "set_timer_op", op: L.__HYPERVISOR_set_timer_op, weight: 4, args: setTimerOp },
  { name: "console_io", op: L.__HYPERVISOR_console_io, weight: 4, args: consoleIo },
  { name: "domctl", op: L.__HYPERVISOR_domctl, weight: 3, args: domctl, must: BigInt(-L.EPERM) },
  { name: "sysctl", op: L.__HYPERVISOR_sysctl, weight: 2, args: sysctl, must: BigInt(-L.EPERM) },
  { name: "pvkit_op", op: L.__HYPERVISOR_pvkit_op, weight: 3, args: pvkitOp, must: BigInt(-L.EPERM) },
  { name: "unknown", weight: 4, args: () => [reg(), reg(), reg(), reg(), reg()], must: BigInt(-L.ENOSYS) },
];
const KNOWN = new Set(HYPERCALLS.map((h) => h.op));
const TOTAL = HYPERCALLS.reduce((n, h) => n + h.weight, 0);

/** A hypercall number nobody implements: low, just past pvkit_op, or any 32-bit value. */
function unknownOp(): number {
  for (;;) {
    const op = pick([below(64), 65 + below(64), u32()]);
    if (!KNOWN.has(op)) return op;
  }
}

/** The next call: a hypercall by weight, its number and its registers. */
function draw(): Hypercall & { op: number; regs: bigint[] } {
  let w = below(TOTAL);
  const h = HYPERCALLS.find((x) => (w -= x.weight) < 0)!;
  return { ...h, op: h.op ?? unknownOp(), regs: h.args() };
}

// ---- The run ----

const hex = (v: bigint) => `0x${BigInt.asUintN(64, v).toString(16)}`;
const transport = (arch.hc as unknown as { transport: { trap(op: number, a: bigint[]): bigint } }).transport;
/** Gives the event loop a moment: a domU that never idles is stopped by the hypervisor's watchdog. */
const rest = () => new Promise<void>((r) => setTimeout(r, 1));

const errnos: Record<string, number> = {};
const byOp: Record<string, number> = {};
/** The first 20 results that were not a Xen `long`, or not the one result a domU may get. */
const violations: { call: number; op: number; args: string[]; result: string }[] = [];
let ok = 0;
let rested = performance.now();
for (let i = 0; i < CALLS; i++) {
  if ((i & 63) === 0 && performance.now() - rested > 20) {
    await rest();
    rested = performance.now();
  }
  afterSuccess = nothing;
  const call = draw();
  const r = transport.trap(call.op, call.regs);
  if (r === 0n) afterSuccess();
  byOp[call.name] = (byOp[call.name] ?? 0) + 1;
  if (r >= 0n) ok++;
  else if (r >= -4095n) {
    const name = L.errnoName(Number(-r));
    errnos[name] = (errnos[name] ?? 0) + 1;
  }
  const bad = r < -4095n || (call.must !== undefined && r !== call.must);
  if (bad && violations.length < 20)
    violations.push({ call: i, op: call.op, args: call.regs.map(hex), result: String(r) });
}

hc.consoleIo.write(new Uint8Array([10])); // ends whatever line the random writes left open
report({ calls: CALLS, seed: SEED, ok, errnos, violations, byOp });
poweroff();
