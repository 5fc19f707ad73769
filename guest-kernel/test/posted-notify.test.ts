/**
 * Posted notifies (arch/transport.ts): EVTCHNOP_send through PvkitMachine.post, its evtchn_send
 * struct in one of two slots past the SDK's part of the scratch page, used in turn. The machine here
 * plays a hypervisor that answers a posted trap only when the vCPU traps next — the latest the real
 * one may — and reads the struct then: each send must still find its own port.
 */
import { describe, expect, it } from "vitest";
import { type PvkitMachine, SCRATCH_POSTED_BYTES } from "@pvkit/abi/machine";
import { __HYPERVISOR_event_channel_op, EVTCHNOP_send } from "@pvkit/abi/layout";
import { PAGE_SIZE, PhysMemory } from "../src/arch/memory.ts";
import { MachineTransport } from "../src/arch/transport.ts";

const SCRATCH = 3 * PAGE_SIZE;

function setup(canPost = true) {
  const memory = new PhysMemory([{ pfn: 0, buf: new SharedArrayBuffer(8 * PAGE_SIZE) }]);
  const delivered: number[] = [];
  let posted: bigint | null = null;
  /** Answers the posted trap: reads its struct now, as a late trap service would. */
  const collect = () => {
    if (posted === null) return;
    delivered.push(new DataView(memory.read(Number(posted), 4).buffer).getUint32(0, true));
    posted = null;
  };
  const machine = {
    trap() {
      collect();
      return 0n;
    },
    takeMail: () => [],
    ...(canPost
      ? {
          post(op: number, a0: bigint, a1: bigint) {
            expect([op, a0]).toEqual([__HYPERVISOR_event_channel_op, BigInt(EVTCHNOP_send)]);
            collect(); // the next trap, a post too, collects the last one first
            posted = a1;
          },
        }
      : {}),
  } as unknown as PvkitMachine;
  const t = new MachineTransport(machine, memory, { addr: SCRATCH, size: PAGE_SIZE - SCRATCH_POSTED_BYTES });
  return { t, delivered, collect, postedAt: () => posted };
}

describe("posted notifies", () => {
  it("each send finds its own port when the hypervisor reads it as late as it may", () => {
    const { t, delivered, collect } = setup();
    for (let port = 1; port <= 50; port++) t.notify(port);
    collect();
    expect(delivered).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it("keeps the struct past the SDK's part of the scratch page, in the page", () => {
    const { t, postedAt } = setup();
    const seen = new Set<number>();
    for (let port = 1; port <= 4; port++) {
      t.notify(port);
      seen.add(Number(postedAt()));
    }
    expect(seen.size).toBe(2);
    for (const addr of seen) {
      expect(addr).toBeGreaterThanOrEqual(SCRATCH + t.scratch.size);
      expect(addr + 4).toBeLessThanOrEqual(SCRATCH + PAGE_SIZE);
    }
  });

  it("says when the machine cannot post", () => {
    expect(setup(true).t.canPost).toBe(true);
    expect(setup(false).t.canPost).toBe(false);
  });
});
