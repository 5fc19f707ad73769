/** A freshly formatted ext2 on an in-memory device, mounted, with a clock the test controls. */
import { mkfsExt2, mountExt2, type Ext2Fs } from "../../src/fs/ext2/index.ts";
import { FsApi } from "../../src/fs/fs-api.ts";
import { MemoryBlockDevice } from "./memory-block-device.ts";

export interface Fixture {
  dev: MemoryBlockDevice;
  ext: Ext2Fs;
  fs: FsApi;
  clock: { now: number };
  /** Unmounts and mounts again (from the device's bytes alone). */
  remount(): Promise<Fixture>;
}

/** Deterministic "random" bytes: tests must not depend on luck. */
export const fixedRandom = (buf: Uint8Array) => buf.forEach((_, i) => (buf[i] = (i * 37 + 11) & 0xff));

export async function freshFs(
  opts: { mib?: number; blockSize?: number; inodeCount?: number; cacheBytes?: number } = {},
): Promise<Fixture> {
  const dev = new MemoryBlockDevice((opts.mib ?? 4) * 1024 * 1024);
  const clock = { now: 1_700_000_000 };
  await mkfsExt2(dev, {
    now: () => clock.now,
    random: fixedRandom,
    blockSize: opts.blockSize ?? 1024,
    inodeCount: opts.inodeCount,
  });
  return mountFixture(dev, clock, opts.cacheBytes);
}

export async function mountFixture(
  dev: MemoryBlockDevice,
  clock: { now: number },
  cacheBytes?: number,
): Promise<Fixture> {
  const ext = await mountExt2(dev, { now: () => clock.now, cacheBytes });
  const f: Fixture = {
    dev,
    ext,
    fs: new FsApi(ext),
    clock,
    remount: async () => {
      await ext.unmount();
      return mountFixture(dev, clock, cacheBytes);
    },
  };
  return f;
}

/** Bytes 0..n-1 of a pattern that differs from block to block (a misplaced block shows). */
export function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed * 2654435761;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Byte equality without a deep-equality walk (which is slow on megabytes). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
