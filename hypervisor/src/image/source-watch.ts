/**
 * Whether any source file a kept guest image was built from may have changed: the question the image
 * cache (guest-build.ts, KeptBuilds) asks before every domain it starts. Asked with a stat(2) of every
 * input file — ~120 for the kernel image alone — it cost ~0.6 ms of each create; asked here, one
 * read(2) of an inotify instance (hypervisor/native/shm.cc) that watches every input file answers
 * "nothing changed", and only then are the files not looked at.
 *
 * The answer is a *generation*: a number that moves whenever an event arrived for any watched file.
 * A kept build remembers the generation at which its inputs were last known to hold their mtimes; the
 * same generation now means no watched file changed since, so neither did they. Any other number
 * sends the cache back to comparing mtimes, which stays the truth: an event only says "look".
 *
 * Why not fs.watch: its events reach JavaScript through the event loop, so a program that writes a
 * source file and creates a domain in the same turn (an editor's save and `pvkit create` cannot, but a
 * test or a script can) would get the old image. An inotify event is queued by the write itself,
 * before the write returns, and is read here synchronously.
 *
 * Without the addon's functions (an addon built before them; not Linux), or when a file cannot be
 * watched (fs.inotify.max_user_watches reached), `watch` says so and the cache compares mtimes every
 * time, as it did before.
 */
import { shm } from "../native/shm.ts";

interface WatchCalls {
  watchOpen(): number;
  watchAdd(fd: number, path: string): number;
  watchDrain(fd: number): number;
}

let fd: number | undefined | null;
let calls: WatchCalls | undefined;
let generation = 0;

/** The inotify instance, opened on first use; null when this process cannot have one. */
function instance(): number | null {
  if (fd !== undefined) return fd;
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
 * Watches `files` from now on; true when every one is watched (then `current()` speaks for them).
 * Watch first, then read what the files hold: a change after the watch moves the generation.
 */
export function watchSources(files: Iterable<string>): boolean {
  const f = instance();
  if (f === null) return false;
  let all = true;
  for (const file of files) if (calls!.watchAdd(f, file) !== 0) all = false;
  return all;
}

/** The generation now: it moved if any watched file changed since it was last asked. */
export function sourceGeneration(): number {
  const f = instance();
  if (f === null) return ++generation; // nothing watched: every answer is "look"
  if (calls!.watchDrain(f) > 0) generation++;
  return generation;
}
