import { describe, expect, it } from "vitest";
import { type MemoryReservationIn, type SdkHypercalls, xenOpsFromSdk } from "../src/kernel/hypercalls.ts";
import { noGrantOps } from "./helpers/no-grant-ops.ts";

/** Records calls the way the generated stubs would receive them. */
function fakeSdk() {
  const calls: string[] = [];
  const mem = new Map<number, Uint8Array>();
  const reservations: { pfns: bigint[]; r: MemoryReservationIn }[] = [];
  let quota = 600;
  const readPfns = (r: MemoryReservationIn) => {
    const bytes = mem.get(Number(r.extent_start))!;
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return Array.from({ length: Number(r.nr_extents) }, (_, i) => v.getBigUint64(i * 8, true));
  };
  const hc: SdkHypercalls = {
    eventChannelOp: {
      send: (a) => void calls.push(`send ${a.port}`),
      unmask: (a) => void calls.push(`unmask ${a.port}`),
      close: (a) => void calls.push(`close ${a.port}`),
      bindVirq: (a) => ({ port: 100 + a.virq }),
      bindIpi: () => ({ port: 50 }),
      allocUnbound: (a) => (calls.push(`alloc ${a.dom} ${a.remote_dom}`), { port: 7 }),
      bindInterdomain: (a) => ({ local_port: a.remote_port + 1 }),
    },
    schedOp: {
      yield: () => undefined,
      block: async () => void calls.push("block"),
      shutdown: (a) => void calls.push(`shutdown ${a.reason}`),
    },
    setTimerOp: (t) => void calls.push(`timer ${t}`),
    consoleIo: { write: (b) => (calls.push(`cons ${b.length}`), Math.min(b.length, 10)) },
    grantTableOp: {
      setupTable: (ops) => {
        calls.push(`setup ${ops[0].dom} ${ops[0].nr_frames}`);
        const v = new DataView(new ArrayBuffer(ops[0].nr_frames * 8));
        for (let i = 0; i < ops[0].nr_frames; i++) v.setBigUint64(i * 8, BigInt(0x800 + i), true);
        mem.set(Number(ops[0].frame_list), new Uint8Array(v.buffer));
        return [{ status: ops[0].nr_frames > 32 ? -1 : 0, nr_frames: ops[0].nr_frames }];
      },
      ...noGrantOps,
    },
    memoryOp: {
      populatePhysmap: (r) => {
        reservations.push({ pfns: readPfns(r), r });
        const n = Math.min(Number(r.nr_extents), quota);
        quota -= n;
        return n;
      },
      decreaseReservation: (r) => Number(r.nr_extents),
    },
  };
  const extents = {
    addr: 0x5000,
    write: (a: number, b: Uint8Array) => void mem.set(a, b.slice()),
    read: (a: number, n: number) => mem.get(a)!.slice(0, n),
  };
  return { hc, calls, reservations, ops: xenOpsFromSdk(hc, extents) };
}

describe("XenOps over the generated SDK", () => {
  it("maps event, sched, timer and console operations onto the stubs", async () => {
    const f = fakeSdk();
    f.ops.evtchnSend(3);
    f.ops.evtchnUnmask(4);
    expect(f.ops.evtchnBindVirq(0, 0)).toBe(100);
    expect(f.ops.evtchnAllocUnbound(2)).toBe(7);
    expect(f.ops.evtchnBindInterdomain(0, 9)).toBe(10);
    f.ops.setTimer(123n);
    f.ops.shutdown(0);
    await f.ops.block();
    f.ops.consoleWrite(new Uint8Array(25));
    expect(f.calls).toEqual([
      "send 3",
      "unmask 4",
      "alloc 32752 2",
      "timer 123",
      "shutdown 0",
      "block",
      "cons 25",
      "cons 15",
      "cons 5",
    ]);
  });

  it("writes pfn lists into the extent page in batches of 512, asks again for the rest of a batch done in part, and stops when a call does nothing", () => {
    const f = fakeSdk();
    const pfns = Array.from({ length: 1200 }, (_, i) => 1000 + i);
    expect(f.ops.populatePhysmap(pfns)).toBe(600);
    expect(f.reservations).toHaveLength(3);
    expect(f.reservations[0].pfns).toHaveLength(512);
    expect(f.reservations[0].pfns[0]).toBe(1000n);
    expect(f.reservations[1].pfns[0]).toBe(1512n); // taken in part: 88 of 512
    expect(f.reservations[2].pfns[0]).toBe(1600n); // the rest, refused: done
    expect(f.reservations[0].r).toMatchObject({ extent_start: 0x5000n, extent_order: 0, domid: 0x7ff0 });
    expect(f.ops.decreaseReservation([1, 2, 3])).toBe(3);
  });

  it("sets up the grant table and reads the frame list back from guest memory", () => {
    const f = fakeSdk();
    expect(f.ops.gnttabSetupTable(3)).toEqual([0x800, 0x801, 0x802]);
    expect(f.calls).toEqual(["setup 32752 3"]);
    expect(() => f.ops.gnttabSetupTable(40)).toThrow(/status -1/);
    expect(() => f.ops.gnttabSetupTable(0)).toThrow(RangeError);
  });
});
