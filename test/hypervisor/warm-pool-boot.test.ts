/**
 * When the warm pool refills: only once the domain being created is up, so that preparing a worker
 * (in a cell: spawning a process, which forks the hypervisor's on its main thread) never competes
 * with a boot. A domain is up when its vCPU stays in a block: a guest with dom0 blocks for each
 * xenstore round trip of its boot, and is not up then. The pool is the real one, its timers fake.
 */
import { describe, expect, it, vi } from "vitest";
import { BOOT_SETTLE_MS } from "@pvkit/hypervisor/pool/warm-pool";
import { LIMIT, pool, scriptedBackend, settled } from "./scripted-pool.ts";

describe("the warm pool's refill after a create", () => {
  it("refills once a booting domain stays blocked, not at a block it leaves at once", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const { backend, made } = scriptedBackend();
      const p = pool(backend, () => ({ code: "0", id: "k1" }));
      p.start();
      await settled();
      made[0]!.settle(true);
      await p.whenReady(1);
      expect(p.take(LIMIT, "k1")).toBeDefined();
      const d = {};
      p.bootStarted(d);
      // The domain's trap count, as the hypervisor passes it: still blocked = no trap since.
      let traps = 0;
      const block = () => {
        const at = ++traps;
        p.blocked(d, () => traps === at);
      };
      block(); // a boot's xenstore round trip with dom0: it traps again within a millisecond
      traps++;
      vi.advanceTimersByTime(BOOT_SETTLE_MS);
      await settled();
      expect(p.isBooting(d)).toBe(true);
      expect(made).toHaveLength(1); // no refill in the middle of a boot

      block(); // another round trip: a look is armed...
      traps++; // ...and the answer wakes it
      vi.advanceTimersByTime(BOOT_SETTLE_MS / 2);
      block(); // its main() waits for work, while that look is still pending
      vi.advanceTimersByTime(BOOT_SETTLE_MS - 1);
      await settled();
      expect(p.isBooting(d)).toBe(true);
      vi.advanceTimersByTime(1); // BOOT_SETTLE_MS after the block it stays in
      await settled();
      expect(p.isBooting(d)).toBe(false);
      expect(made).toHaveLength(2); // up: the pool refills
      await p.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
