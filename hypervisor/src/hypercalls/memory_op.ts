/**
 * HYPERVISOR_memory_op: a domain's memory grows and shrinks a frame at a time, within its quota.
 * populate_physmap hands the new frames to the domain's worker (they are usable when the call
 * returns); decrease_reservation takes frames out of its P2M and tells the worker to forget them. The
 * worker may keep their buffers anyway (nothing can take them back), so a frame given back is reused
 * only for the same domain (scrubbed), or retired while other domains still hold it: see
 * memory/frames.ts. Results follow Xen: the number of extents done, which may be short of what was
 * asked.
 */
import { EINVAL, ENOSYS, type XenMemoryReservation } from "@pvkit/abi/layout";
import type { HypercallHandlers } from "../generated/handlers.ts";
import type { Domain } from "../domain/domain.ts";
import type { Frame } from "../gnttab/host.ts";
import { MailKind } from "../realm/mail-ring.ts";
import type { DomainContext } from "./context.ts";

/** Most extents one call may name (Xen preempts long calls; pvkit bounds them). */
const MAX_EXTENTS = 1n << 16n;

function pfnList(ctx: DomainContext, r: XenMemoryReservation): number[] | number {
  if (r.extent_order !== 0) return -EINVAL;
  if (r.nr_extents > MAX_EXTENTS) return -EINVAL;
  const n = Number(r.nr_extents);
  const v = ctx.copyFromGuest(r.extent_start, n * 8);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const pfn = v.getBigUint64(i * 8, true);
    if (pfn > BigInt(Number.MAX_SAFE_INTEGER) / 4096n) return -EINVAL;
    out.push(Number(pfn));
  }
  return out;
}

function target(ctx: DomainContext, domid: number): Domain | number {
  return ctx.target(domid);
}

function populate(ctx: DomainContext, r: XenMemoryReservation): number {
  const d = target(ctx, r.domid);
  if (typeof d === "number") return d;
  const pfns = pfnList(ctx, r);
  if (typeof pfns === "number") return pfns;
  const given: { pfn: number; frame: Frame }[] = [];
  const room = ctx.hv.memory.mailRoom(d); // the worker learns of new frames through its mail ring
  let done = 0;
  for (const pfn of pfns) {
    if (!d.p2m.has(pfn)) {
      if (d.p2m.size >= d.maxPages) break; // over quota: stop, report what was done
      if (given.length >= room) break; // its mail ring is full: a short count, as Xen may give
      const f = ctx.hv.memory.frameFor(d, given.length);
      if (!f) break;
      d.p2m.set(pfn, f);
      given.push({ pfn, frame: f });
    }
    done++;
  }
  ctx.hv.memory.handOver(
    d,
    given.map((g) => ({ kind: MailKind.frames, mfn: g.frame.mfn, key: g.pfn })),
  );
  return done;
}

function decrease(ctx: DomainContext, r: XenMemoryReservation): number {
  const d = target(ctx, r.domid);
  if (typeof d === "number") return d;
  const pfns = pfnList(ctx, r);
  if (typeof pfns === "number") return pfns;
  const dropped: number[] = [];
  const room = ctx.hv.memory.mailRoom(d);
  let done = 0;
  for (const pfn of pfns) {
    const f = d.p2m.get(pfn);
    if (!f) break; // Xen stops at the first extent it cannot release
    if (dropped.length >= room) break;
    d.p2m.delete(pfn);
    ctx.hv.frames.retire(f);
    dropped.push(pfn);
    done++;
  }
  ctx.hv.memory.handOver(
    d,
    dropped.map((pfn) => ({ kind: MailKind.drop, mfn: 0, key: pfn })),
  );
  return done;
}

export const memoryOp: HypercallHandlers<DomainContext>["memoryOp"] = {
  // PV guests on pvkit name the pfns they want (populate_physmap); machine-frame lists are not theirs to see.
  increaseReservation: () => -ENOSYS,
  populatePhysmap: (ctx, r) => populate(ctx, r),
  decreaseReservation: (ctx, r) => decrease(ctx, r),
  currentReservation(ctx, domid) {
    const d = target(ctx, domid);
    return typeof d === "number" ? d : d.pages;
  },
  maximumReservation(ctx, domid) {
    const d = target(ctx, domid);
    return typeof d === "number" ? d : d.maxPages;
  },
};
