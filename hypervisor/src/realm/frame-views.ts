/**
 * Views of machine frames, made in the process that runs a domain's worker. The hypervisor's process
 * maps the whole machine memory once (an arena) and cuts views out of it. A cell maps only what its
 * domain is handed — each run of its own memory with one mapping (realm/memory-runs.ts), and every
 * other frame handed over with one of its own — so the cell's address space holds its domain's
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

/** A stretch of consecutive machine frames: `pages` of them from `mfn` (one frame: pages 1). */
export interface FrameSpan {
  readonly mfn: number;
  readonly pages: number;
}

/** One view for each span given, in order: a buffer of exactly its frames. */
export type FrameViews = (spans: readonly FrameSpan[]) => SharedArrayBuffer[];

/** How this process makes views of frames: cut from the arena, or mapped a span at a time. */
export function frameViews(shm: ShmMaps, arena: ArenaRef): FrameViews {
  if ("id" in arena) return (spans) => spans.map((s) => shm.view(arena.id, s.mfn * PAGE, s.pages * PAGE));
  return (spans) => spans.map((s) => mapFrames(shm, arena.fd, s));
}

/** Maps `span` of the machine's memory file into this process: one mapping, one view. */
export function mapFrames(shm: ShmMaps, fd: number, span: FrameSpan): SharedArrayBuffer {
  const bytes = span.pages * PAGE;
  return shm.view(shm.map(fd, bytes, span.mfn * PAGE), 0, bytes);
}
