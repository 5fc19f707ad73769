/**
 * The warm pool when pooled workers fail before they are ready (a rehearsal of the kernel's boot
 * that fails: hypervisor/src/realm/rehearsal.ts): a domain is given only a ready worker, and a
 * kernel image whose workers keep failing stops the pool from preparing more until the kernel
 * changes. The workers are records the test settles by hand; the pool is the real one.
 */
import { describe, expect, it } from "vitest";
import { LIMIT, pool, scriptedBackend, settled } from "./scripted-pool.ts";

describe("the warm pool when workers fail before they are ready", () => {
  it("gives a domain only a ready worker: one still preparing stays for the next", async () => {
    const { backend, made } = scriptedBackend();
    const p = pool(backend, () => ({ code: "0", id: "k1" }));
    p.start();
    await settled();
    expect(made).toHaveLength(1);
    expect(p.take(LIMIT, "k1")).toBeUndefined(); // preparing: this domain starts cold
    expect(p.stats()).toMatchObject({ idle: 1, ready: 0, served: 0, cold: 1 });
    made[0]!.settle(true);
    await p.whenReady(1);
    expect(p.take(LIMIT, "k1")?.kernelId).toBe("k1");
    await p.close();
  });

  it("stops preparing for a kernel image after three workers in a row fail, until it changes", async () => {
    const { backend, made } = scriptedBackend();
    let kernel = { code: "0", id: "k1" };
    const log: string[] = [];
    const p = pool(backend, () => kernel, log);
    const boot = async () => {
      const d = {};
      p.bootStarted(d);
      p.bootEnded(d); // a domain came up (or shut down): the pool refills
      await settled();
    };
    p.start();
    await settled();
    for (let i = 0; i < 3; i++) {
      expect(made).toHaveLength(i + 1);
      made[i]!.settle(false);
      await settled();
      if (i < 2) await boot();
    }
    expect(log.filter((l) => l.includes("ended before it was used"))).toHaveLength(3);
    expect(log.at(-1)).toContain("no more are prepared for this kernel image");
    await boot();
    await boot();
    expect(made).toHaveLength(3); // stopped: no worker per boot, no line per boot

    kernel = { code: "1", id: "k2" }; // a kernel source changed
    await boot();
    expect(made).toHaveLength(4);
    expect(made[3]!.kernelId).toBe("k2");
    made[3]!.settle(true);
    await p.whenReady(1);
    expect(p.take(LIMIT, "k2")?.kernelId).toBe("k2");
    await p.close();
  });
});
