/**
 * Whether any source file a kept guest image was built from may have changed: the question the image
 * cache (guest-build.ts, KeptBuilds) asks before every domain it starts. Asked with a stat(2) of every
 * input file — ~120 for the kernel image alone — it cost ~0.6 ms of each create; asked here, one
 * read(2) of an inotify instance (hypervisor/native/shm.cc) that watches every input file answers
 * "nothing changed", and only then are the files not looked at.
 *
 * The answer is a *generation*: a number that moves whenever an event arrived for anything watched.
 * A kept build remembers the generation at which its inputs were last known to hold their mtimes
 * and to be watched; the same generation now means nothing watched changed since, so neither did
 * they. Any other number sends the cache back to comparing mtimes, which stays the truth (an event
 * only says "look"), and to watching the files again: a path may now name another file.
 *
 * What is watched: each input file, for any change to it; and each directory on the way to it, for
 * its own move or deletion — moving a folder aside and checking it out again puts new files behind
 * the old names without an event on the old files.
 *
 * Why not fs.watch: its events reach JavaScript through the event loop, so a program that writes a
 * source file and creates a domain in the same turn (an editor's save and `pvkit create` cannot, but a
 * test or a script can) would get the old image. An inotify event is queued by the write itself,
 * before the write returns, and is read here synchronously.
 *
 * Where a watch cannot speak for a file, the cache compares mtimes every time, as it did before: the
 * addon lacks these functions (built before them) or this is not Linux; the file is on a network or
 * FUSE file system (another machine may change it with no event here; the addon refuses the watch);
 * fs.inotify.max_user_watches is reached; the instance stops answering; or PVKIT_SOURCE_WATCH=0.
 */
import { dirname } from "node:path";
import { shm } from "../native/shm.ts";

interface WatchCalls {
  watchOpen(): number;
  watchAdd(fd: number, path: string, directory: boolean): number;
  watchDrain(fd: number): number;
}

let fd: number | undefined | null;
let calls: WatchCalls | undefined;
let generation = 0;

/** The inotify instance, opened on first use; null when this process cannot have one. */
function instance(): number | null {
  if (fd !== undefined) return fd;
  if (process.env.PVKIT_SOURCE_WATCH === "0") return (fd = null);
  try {
    const addon = shm() as unknown as Partial<WatchCalls>;
    if (!addon.watchOpen || !addon.watchAdd || !addon.watchDrain) return (fd = null);
    calls = addon as WatchCalls;
    fd = calls.watchOpen();
  } catch {
    fd = null;
  }
  return fd;
}

/**
 * Watches `files`, and the directories on the way to each, from now on; true when every one is
 * watched (then `sourceGeneration()` speaks for them). Watch first, then read what the files hold:
 * a change after the watch moves the generation.
 */
export function watchSources(files: Iterable<string>): boolean {
  const f = instance();
  if (f === null) return false;
  const dirs = new Set<string>();
  let all = true;
  for (const file of files) {
    if (calls!.watchAdd(f, file, false) !== 0) all = false;
    for (let d = dirname(file); !dirs.has(d); d = dirname(d)) {
      dirs.add(d);
      if (calls!.watchAdd(f, d, true) !== 0) all = false;
      if (dirname(d) === d) break; // the root
    }
  }
  return all;
}

/** The generation now: it moved if anything watched changed since it was last asked. */
export function sourceGeneration(): number {
  const f = instance();
  if (f === null) return ++generation; // nothing watched: every answer is "look"
  const drained = calls!.watchDrain(f);
  if (drained < 0) fd = null; // the instance stopped answering: stat from now on
  if (drained !== 0) generation++;
  return generation;
}
