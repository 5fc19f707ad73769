/**
 * Views of machine frames, made in the process that runs a domain's worker. The hypervisor's process
 * maps the whole machine memory once (an arena) and cuts views out of it. A cell maps only what its
 * domain is handed — its frames at boot, each contiguous run of them with one mapping, and every
 * frame handed over later with one of its own — so the cell's address space holds its domain's
 * frames, the pages granted to it and the doorbell, and nothing of any other domain: what a process
 * cannot address it cannot read, speculatively or otherwise.
 */
import type { ArenaRef } from "./boot-data.ts";

const PAGE = 4096;

/** The mapping calls of the shared-memory addon (hypervisor/native/shm.cc). */
export interface ShmMaps {
  map(fd: number, bytes: number, offset?: number): number;
  view(id: number, offset: number, length: number): SharedArrayBuffer;
}

/** Views of frames, one for each frame number given, in order. */
export type FrameViews = (mfns: number[]) => SharedArrayBuffer[];

/** How this process makes views of frames: cut from the arena, or mapped a run at a time. */
export function frameViews(shm: ShmMaps, arena: ArenaRef): FrameViews {
  if ("id" in arena) return (mfns) => mfns.map((mfn) => shm.view(arena.id, mfn * PAGE, PAGE));
  return (mfns) => mapFrameRuns(shm, arena.fd, mfns) as SharedArrayBuffer[];
}

/** Views of `mfns` (holes stay null), each run of consecutive frame numbers mapped once. */
export function mapFrameRuns(
  shm: ShmMaps,
  fd: number,
  mfns: (number | null)[],
): (SharedArrayBuffer | null)[] {
  const views: (SharedArrayBuffer | null)[] = mfns.map(() => null);
  for (let i = 0; i < mfns.length;) {
    const first = mfns[i];
    if (first === null || first === undefined) {
      i++;
      continue;
    }
    let n = 1;
    while (i + n < mfns.length && mfns[i + n] === first + n) n++;
    const run = shm.map(fd, n * PAGE, first * PAGE);
    for (let k = 0; k < n; k++) views[i + k] = shm.view(run, k * PAGE, PAGE);
    i += n;
  }
  return views;
}
