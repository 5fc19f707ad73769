/**
 * The warm pool's tests' kit: the real pool (hypervisor/src/pool/warm-pool.ts) over workers that are
 * records the test settles by hand.
 */
import { WarmPool, type PoolBackend, type PooledWorker } from "@pvkit/hypervisor/pool/warm-pool";

export const LIMIT = 96 * 1024 * 1024;

/** Workers whose readiness the test decides: settle(i, true) makes the i-th ready. */
export function scriptedBackend() {
  const made: { kernelId: string | undefined; settle: (ok: boolean) => void }[] = [];
  const backend: PoolBackend = {
    prepare(jsLimitBytes, kernel, lost) {
      let settle!: (ok: boolean) => void;
      const ready = new Promise<boolean>((resolve) => {
        settle = (ok) => {
          resolve(ok);
          if (!ok) lost("rehearsal: its kernel went idle instead of shutting down");
        };
      });
      made.push({ kernelId: kernel?.id, settle });
      const w: PooledWorker = {
        jsLimitBytes,
        kernelId: kernel?.id,
        ready,
        pid: "self",
        retire: async () => {},
      };
      return w;
    },
  };
  return { backend, made };
}

/** Lets the pool's async fill run as far as it can (it waits on promises only). */
export async function settled(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

export function pool(backend: PoolBackend, kernel: () => { code: string; id: string }, log: string[] = []) {
  return new WarmPool({
    size: 1,
    jsLimitBytes: LIMIT,
    backend: async () => backend,
    kernel: async () => kernel(),
    reserve: () => true,
    release: () => undefined,
    log: (line) => log.push(line),
  });
}
