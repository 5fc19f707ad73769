/**
 * The V8 flags every pvkit process runs with: the hypervisor's (its dom0 and, with cells off, every
 * domU are threads of it) and every cell's. A flag is the process's, so it is set in both places:
 * the hypervisor sets it when it is made, and the supervisor stub (realm/code-cache.ts) as the
 * first thing a domU's worker does — before any code cache is compiled, which V8 checks against
 * the flags it was made under.
 *
 * --no-concurrent-array-buffer-sweeping: an ArrayBuffer whose bytes live outside the heap (any typed
 * array over 64 bytes: every frame, segment and response the kernel and dom0 make) is freed by
 * the collector. By default a background thread does it, and its free() contends for the malloc
 * arena with the thread that allocates: on this machine `new Uint8Array(200)` took 2.2-2.6 µs,
 * most of it futex system calls, in a worker with a guest's 2 MB young generation. Freed on the
 * thread that allocated it took 0.26-0.29 µs. The price is paid by large arrays: their free() is
 * now the allocating thread's too, and `pnpm bench blk`'s sequential reads (a fresh 1 MiB array per
 * read in the guest) ran 15-20 % slower with it in three A/B pairs, where HTTP's small messages
 * ran 15-25 % faster and random 4 KiB reads no slower.
 */
import { setFlagsFromString } from "node:v8";

export const PROCESS_V8_FLAGS = ["--no-concurrent-array-buffer-sweeping"] as const;

/** Sets PROCESS_V8_FLAGS in this process (idempotent). */
export function setProcessV8Flags(): void {
  for (const f of PROCESS_V8_FLAGS) setFlagsFromString(f);
}
