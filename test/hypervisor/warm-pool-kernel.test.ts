/**
 * The warm pool's bookkeeping when the kernel image changes under it (a kernel source edited while
 * the host runs): idle workers prepared with the old kernel image cannot serve a program linked to
 * the new one, so the pool retires them, that domain starts cold, and the refill prepares workers
 * with the new image. The workers here are records of what the pool asked its backend for (the
 * real workers' refusal of another kernel is warm-pool.test.ts's); the pool itself is the real one.
 */
import { describe, expect, it } from "vitest";
import { WarmPool, type PoolBackend, type PooledWorker } from "@pvkit/hypervisor/pool/warm-pool";

const LIMIT = 96 * 1024 * 1024;

function recordingBackend() {
  const made: { kernelId: string | undefined; retired: boolean }[] = [];
  const backend: PoolBackend = {
    prepare(jsLimitBytes, kernel) {
      const rec = { kernelId: kernel?.id, retired: false };
      made.push(rec);
      const w: PooledWorker = {
        jsLimitBytes,
        kernelId: kernel?.id,
        ready: Promise.resolve(true),
        pid: "self",
        retire: async () => void (rec.retired = true),
      };
      return w;
    },
  };
  return { backend, made };
}

describe("the warm pool and the kernel image", () => {
  it("retires workers prepared with an older kernel image and refills with the new one", async () => {
    const { backend, made } = recordingBackend();
    let kernel = { code: "(() => ({}))()", id: "kernel-1" };
    let reserved = 0;
    const pool = new WarmPool({
      size: 2,
      jsLimitBytes: LIMIT,
      backend: async () => backend,
      kernel: async () => kernel,
      reserve: () => (reserved++, true),
      release: () => void reserved--,
      log: () => undefined,
    });
    pool.start();
    await pool.whenReady(2);
    expect(made.map((m) => m.kernelId)).toEqual(["kernel-1", "kernel-1"]);

    // A program linked to the same kernel takes one; a raw guest (no kernel id) may take any.
    const domain1 = {};
    expect(pool.take(LIMIT, "kernel-1")?.kernelId).toBe("kernel-1");
    pool.bootStarted(domain1);
    expect(pool.take(LIMIT)?.kernelId).toBe("kernel-1");
    pool.bootEnded(domain1);
    await pool.whenReady(2);

    // The kernel changes: what is idle was prepared with the old one.
    kernel = { code: "(() => ({ changed: true }))()", id: "kernel-2" };
    expect(pool.take(LIMIT, "kernel-2")).toBeUndefined();
    expect(made.slice(2, 4).every((m) => m.retired)).toBe(true);
    expect(pool.stats()).toMatchObject({ idle: 0, served: 2, cold: 1 });

    // The cold domain boots; once it is up the pool refills, now with the new kernel.
    const domain2 = {};
    pool.bootStarted(domain2);
    pool.bootEnded(domain2);
    await pool.whenReady(2);
    expect(made.slice(4).map((m) => m.kernelId)).toEqual(["kernel-2", "kernel-2"]);
    expect(pool.take(LIMIT, "kernel-2")?.kernelId).toBe("kernel-2");
    expect(reserved).toBe(1); // one idle worker left, reserved; the retired ones released theirs
    await pool.close();
    expect(reserved).toBe(0);
  });
});
