/**
 * XenOps over the generated guest SDK: each kernel operation becomes one typed hypercall stub.
 * `SdkHypercalls` lists the part of `Hypercalls` (@pvkit/abi/guest) the kernel uses, by the names
 * docs/generated-api.md fixes, so the real class fits it structurally. Callers keep one rule: the
 * extent page passed in is the kernel's own, used for nothing else (memory_op writes pfn lists there).
 */
import { grantStatusName } from "@pvkit/abi";
import { GrantError, type GrantCopySide, type GrantMapOp, MAP_BATCH, type XenOps } from "./hypervisor.ts";
import {
  DOMID_SELF,
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTMAP_host_map,
  GNTMAP_readonly,
  GNTST_okay,
  PAGE_SIZE,
} from "./xen.ts";

/** xen_memory_reservation, as the SDK takes it (C field names). */
export interface MemoryReservationIn {
  extent_start: bigint;
  nr_extents: bigint;
  extent_order: number;
  mem_flags: number;
  domid: number;
}

/** The slice of the generated `Hypercalls` class the kernel calls. */
export interface SdkHypercalls {
  readonly eventChannelOp: {
    send(arg: { port: number }): void;
    unmask(arg: { port: number }): void;
    close(arg: { port: number }): void;
    bindVirq(arg: { virq: number; vcpu: number }): { port: number };
    bindIpi(arg: { vcpu: number }): { port: number };
    allocUnbound(arg: { dom: number; remote_dom: number }): { port: number };
    bindInterdomain(arg: { remote_dom: number; remote_port: number }): { local_port: number };
  };
  readonly schedOp: {
    yield(): void;
    block(): Promise<void>;
    shutdown(arg: { reason: number }): void;
  };
  setTimerOp(timeout: bigint): void;
  readonly consoleIo: { write(bytes: Uint8Array): number };
  readonly grantTableOp: {
    setupTable(
      ops: { dom: number; nr_frames: number; frame_list: bigint }[],
    ): { status: number; nr_frames: number }[];
    mapGrantRef(
      ops: { host_addr: bigint; flags: number; ref: number; dom: number }[],
    ): { status: number; handle: number }[];
    unmapGrantRef(ops: { host_addr: bigint; dev_bus_addr: bigint; handle: number }[]): { status: number }[];
    copy(ops: GntCopyIn[]): { status: number }[];
  };
  readonly memoryOp: {
    populatePhysmap(arg: MemoryReservationIn): number;
    decreaseReservation(arg: MemoryReservationIn): number;
  };
}

/** gnttab_copy as the SDK takes it: each side's union holds a grant ref or one of our frames. */
export interface GntCopyIn {
  source: { u: { ref?: number; gmfn?: bigint }; domid: number; offset: number };
  dest: { u: { ref?: number; gmfn?: bigint }; domid: number; offset: number };
  len: number;
  flags: number;
}

/** One side of a gnttab_copy in C terms, and the GNTCOPY_*_gref flag it needs. */
function copySide(side: GrantCopySide, grefFlag: number): { ptr: GntCopyIn["source"]; flag: number } {
  if ("ref" in side)
    return { ptr: { u: { ref: side.ref }, domid: side.domid, offset: side.offset }, flag: grefFlag };
  return { ptr: { u: { gmfn: BigInt(side.pfn) }, domid: DOMID_SELF, offset: side.offset }, flag: 0 };
}

/** Where the memory_op pfn lists go: one page of guest memory the kernel reserved at boot. */
export interface ExtentPage {
  /** Guest address of the page. */
  addr: number;
  write(addr: number, bytes: Uint8Array): void;
  read(addr: number, len: number): Uint8Array;
}

/** Most grant-table frames asked for in one setup_table (the frame list shares the extent page). */
export const MAX_GRANT_FRAMES = PAGE_SIZE / 8;

/** Most pfns one memory_op call carries (one page of u64s). */
export const EXTENTS_PER_CALL = PAGE_SIZE / 8;

/** Builds the kernel's XenOps over the SDK. */
/** Bytes per console_io write: well inside the SDK's one-page scratch area. */
const CONSOLE_CHUNK = 2048;

/**
 * @param notify EVTCHNOP_send posted (the arch layer's MachineTransport.notify), where the machine
 *   can post; without it a notify is the SDK's synchronous call.
 */
export function xenOpsFromSdk(
  hc: SdkHypercalls,
  extents: ExtentPage,
  notify?: (port: number) => void,
): XenOps {
  /** GNTTABOP_map_grant_ref of `ops` in one call: each op's handle, or the GrantError of its status. */
  const mapBatch = (ops: readonly GrantMapOp[]): (number | GrantError)[] => {
    if (ops.length > MAP_BATCH)
      throw new RangeError(`${ops.length} grant maps in one batch (${MAP_BATCH} at most)`);
    if (ops.length === 0) return [];
    const rs = hc.grantTableOp.mapGrantRef(
      ops.map((o) => ({
        host_addr: o.hostAddr,
        flags: GNTMAP_host_map | (o.readonly ? GNTMAP_readonly : 0),
        ref: o.ref,
        dom: o.domid,
      })),
    );
    return rs.map((r, i) =>
      r.status === GNTST_okay
        ? r.handle
        : new GrantError(
            `map grant ${ops[i]!.ref} of domain ${ops[i]!.domid}`,
            r.status,
            grantStatusName(r.status),
          ),
    );
  };
  const ev = hc.eventChannelOp;
  /**
   * Runs a memory_op over `pfns` in page-sized batches. The hypervisor may do a batch in part (as Xen
   * does when preempted; pvkit when its mail ring to this vCPU is full): the rest is asked again,
   * until a call does nothing at all — the extent it stopped at is one it will not take.
   */
  const memop = (op: (r: MemoryReservationIn) => number, pfns: number[]): number => {
    let done = 0;
    while (done < pfns.length) {
      const batch = pfns.slice(done, done + EXTENTS_PER_CALL);
      const buf = new DataView(new ArrayBuffer(batch.length * 8));
      batch.forEach((pfn, j) => buf.setBigUint64(j * 8, BigInt(pfn), true));
      extents.write(extents.addr, new Uint8Array(buf.buffer));
      const n = op({
        extent_start: BigInt(extents.addr),
        nr_extents: BigInt(batch.length),
        extent_order: 0,
        mem_flags: 0,
        domid: DOMID_SELF,
      });
      if (n <= 0) break;
      done += n;
    }
    return done;
  };
  return {
    evtchnSend: (port) => ev.send({ port }),
    ...(notify ? { evtchnNotify: notify } : {}),
    evtchnUnmask: (port) => ev.unmask({ port }),
    evtchnClose: (port) => ev.close({ port }),
    evtchnBindVirq: (virq, vcpu) => ev.bindVirq({ virq, vcpu }).port,
    evtchnBindIpi: (vcpu) => ev.bindIpi({ vcpu }).port,
    evtchnAllocUnbound: (remoteDom) => ev.allocUnbound({ dom: DOMID_SELF, remote_dom: remoteDom }).port,
    evtchnBindInterdomain: (remoteDom, remotePort) =>
      ev.bindInterdomain({ remote_dom: remoteDom, remote_port: remotePort }).local_port,
    block: () => hc.schedOp.block(),
    yield: () => hc.schedOp.yield(),
    shutdown: (reason) => hc.schedOp.shutdown({ reason }),
    setTimer: (deadline) => hc.setTimerOp(deadline),
    consoleWrite: (bytes) => {
      // console_io may take fewer bytes than offered, and the SDK marshals them through one scratch
      // page: write in page-sized pieces; loop, but never forever.
      let off = 0;
      for (let i = 0; off < bytes.length && i < 1024; i++) {
        const n = hc.consoleIo.write(bytes.subarray(off, off + CONSOLE_CHUNK));
        if (n <= 0) break;
        off += n;
      }
    },
    populatePhysmap: (pfns) => memop((r) => hc.memoryOp.populatePhysmap(r), pfns),
    decreaseReservation: (pfns) => memop((r) => hc.memoryOp.decreaseReservation(r), pfns),
    gnttabSetupTable: (nrFrames) => {
      if (!Number.isInteger(nrFrames) || nrFrames <= 0 || nrFrames > MAX_GRANT_FRAMES) {
        throw new RangeError(`grant table of ${nrFrames} frames`);
      }
      const [r] = hc.grantTableOp.setupTable([
        { dom: DOMID_SELF, nr_frames: nrFrames, frame_list: BigInt(extents.addr) },
      ]);
      if (r.status !== 0) throw new Error(`grant_table_op.setup_table: status ${r.status}`);
      // The hypervisor wrote nr_frames xen_pfn_t values at frame_list: copy them out once.
      const bytes = extents.read(extents.addr, nrFrames * 8);
      const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      return Array.from({ length: nrFrames }, (_, i) => Number(v.getBigUint64(i * 8, true)));
    },
    // Grant ops report per-op GNTST_* statuses (the hypercall itself succeeds): turn a bad one into
    // a GrantError that names it, so a caller never compares numbers.
    // One map is a batch of one: the flags and the status's GrantError are made in one place.
    gnttabMap: (domid, ref, hostAddr, readonly) => {
      const [r] = mapBatch([{ domid, ref, hostAddr, readonly }]);
      if (r instanceof GrantError) throw r;
      return r!;
    },
    gnttabMapBatch: (ops) => mapBatch(ops),
    gnttabUnmap: (hostAddr, handle) => {
      const [r] = hc.grantTableOp.unmapGrantRef([{ host_addr: hostAddr, dev_bus_addr: 0n, handle }]);
      if (r!.status !== GNTST_okay) {
        throw new GrantError(`unmap grant handle ${handle}`, r!.status, grantStatusName(r!.status));
      }
    },
    gnttabCopy: (op) => {
      const src = copySide(op.source, GNTCOPY_source_gref);
      const dst = copySide(op.dest, GNTCOPY_dest_gref);
      const [r] = hc.grantTableOp.copy([
        { source: src.ptr, dest: dst.ptr, len: op.len, flags: src.flag | dst.flag },
      ]);
      if (r!.status !== GNTST_okay) {
        throw new GrantError(`grant copy of ${op.len} bytes`, r!.status, grantStatusName(r!.status));
      }
    },
  };
}
