/**
 * Runs: how a domain's own memory crosses to its worker. A run is a maximal stretch of the domain's
 * pages whose frames are consecutive in the machine too (pfn p, p+1, … on mfn m, m+1, …), handed
 * over as ONE SharedArrayBuffer of pages × 4 KiB — at boot and for each populate_physmap — instead
 * of one buffer per page. A buffer costs its worker a structured clone, a harden() in the realm and
 * a view in the kernel; an 8 MiB domain built on free memory is one run instead of 2048 buffers.
 *
 * What a run reaches is exactly its frames, each one the domain's and each recorded as handed to
 * it (memory/machine-memory.ts); a page the domain gives back stays reachable through its run's
 * buffer, which is why frames remember their holders until the worker dies (memory/frames.ts).
 * Frames handed over for other reasons (grant-table frames, grant maps) are never part of a run.
 */

/** A run by number, as the hypervisor sends it (a cell maps it: realm/frame-views.ts). */
export interface RunRef {
  /** Its first page in the domain's pseudo-physical space, and that page's machine frame. */
  readonly pfn: number;
  readonly mfn: number;
  /** How many pages (and frames) it spans. */
  readonly pages: number;
}

/** A run as the worker receives it: its first pfn and one buffer of all its pages, in order. */
export type { MemoryRun } from "@pvkit/abi/machine";

/**
 * The runs of `pages` (pfn → mfn pairs, in any order; each pfn once), in pfn order: consecutive
 * pfns on consecutive mfns make one run.
 */
export function runsOf(pages: Iterable<readonly [pfn: number, mfn: number]>): RunRef[] {
  const list = [...pages];
  // Built memory comes in pfn order; populate_physmap's in the guest's order: sort only if needed.
  for (let i = 1; i < list.length; i++)
    if (list[i]![0] < list[i - 1]![0]) {
      list.sort((a, b) => a[0] - b[0]);
      break;
    }
  const runs: RunRef[] = [];
  for (let i = 0; i < list.length;) {
    const [pfn, mfn] = list[i]!;
    let n = 1;
    while (i + n < list.length && list[i + n]![0] === pfn + n && list[i + n]![1] === mfn + n) n++;
    runs.push({ pfn, mfn, pages: n });
    i += n;
  }
  return runs;
}
