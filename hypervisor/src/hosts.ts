/**
 * What the event-channel and grant-table subsystems need from the rest of the hypervisor
 * (EvtchnHost, GnttabHost), implemented over the domain table and machine memory. The grant side is
 * where the memory model bites: a mapped frame is handed to the mapper's worker for good (counted
 * against its exposure), except a read-only mapping, which gets a private snapshot copied at map time
 * so the mapper never holds a writable buffer of the granter's page. Only the privileged domain is
 * trusted to drop what it unmaps.
 */
import { GNTST_no_space, GNTST_okay } from "@pvkit/abi/layout";
import type { EvtchnHost } from "./evtchn/host.ts";
import type { ForeignMapping, Frame, GnttabHost } from "./gnttab/host.ts";
import type { Hypervisor } from "./hypervisor.ts";
import { MailKind } from "./realm/mail-ring.ts";

export function evtchnHost(hv: Hypervisor): EvtchnHost {
  return {
    domainExists: (domid) => hv.domains.get(domid)?.alive ?? false,
    vcpuCount: (domid) => (hv.domains.has(domid) ? 1 : 0),
    sharedInfo: (domid) => new DataView(hv.domains.get(domid)!.sharedInfo!.buffer),
    kick: (domid) => hv.domains.get(domid)?.vcpu.wake?.(),
    portPending: (domid, port) => {
      const v = hv.domains.get(domid)?.vcpu;
      if (v?.pollPorts?.includes(port)) v.wake?.();
    },
  };
}

export function gnttabHost(hv: Hypervisor): GnttabHost {
  /** The private copy behind each read-only mapping. */
  const snapshots = new WeakMap<ForeignMapping, Frame>();
  return {
    domainExists: (domid) => hv.domains.get(domid)?.alive ?? false,
    frameOf: (domid, gfn) => hv.domains.get(domid)?.p2m.get(gfn),
    // Grant-table frames are the hypervisor's (Xen's xenheap): owned by the table's domain, outside
    // its memory quota, at most max_grant_frames of them.
    allocFrame: (domid) => {
      const d = hv.domains.get(domid);
      return d ? hv.frames.alloc(d.uid) : undefined;
    },
    freeFrame: (f: Frame) => hv.frames.retire(f),
    giveTableFrames: (domid, frames) => {
      const d = hv.domains.get(domid);
      if (d)
        hv.memory.handOver(
          d,
          frames.map((f) => ({ kind: MailKind.gnttab, mfn: f.mfn, key: f.mfn })),
        );
    },
    mapForeign: (domid, m: ForeignMapping) => {
      const d = hv.domains.get(domid);
      if (!d) return -1;
      if (hv.memory.mailRoom(d) < 1) return GNTST_no_space;
      let frame = m.frame;
      if (m.readonly) {
        const copy = hv.memory.frameFor(d);
        if (!copy) return GNTST_no_space;
        new Uint8Array(copy.buffer).set(new Uint8Array(m.frame.buffer));
        snapshots.set(m, copy);
        frame = copy;
      } else if (!hv.memory.mayHand(d, frame)) return GNTST_no_space;
      const kind = m.readonly ? MailKind.mapReadonly : MailKind.map;
      hv.memory.handOver(d, [{ kind, mfn: frame.mfn, key: Number(m.hostAddr) }]);
      return GNTST_okay;
    },
    unmapForeign: (domid, m: ForeignMapping) => {
      const d = hv.domains.get(domid);
      // Best effort: a mapper whose ring is full keeps the stale entry, and the buffer it has anyway.
      if (d) hv.memory.handOver(d, [{ kind: MailKind.unmap, mfn: 0, key: Number(m.hostAddr) }]);
      const copy = snapshots.get(m);
      if (copy) {
        snapshots.delete(m);
        hv.frames.retire(copy); // the mapper's alone: it may get it back, nobody else
        if (d?.privileged) hv.frames.dropHolder(copy, d.uid);
      } else if (d?.privileged && !hv.gnttab.maps(domid, m.frame)) {
        // dom0's kernel drops its reference when it unmaps; it is trusted to (docs/security.md).
        hv.frames.dropHolder(m.frame, d.uid);
      }
    },
  };
}
