/**
 * A cell's process, as the hypervisor holds it (cell-host.ts): spawned with the machine's memory as
 * fd 4 and its bell as fd 5, its standard error kept (V8's last words are there), and an end that
 * is always heard, however the process ends and whatever it leaves behind.
 *
 * Rule: nothing a cell does to its IPC channel, its standard error or its bell may throw in the
 * hypervisor or keep its end unheard. Sends take a callback (an IPC write that fails would otherwise
 * be an "error" event); every "error" is handled; and the end is the process's exit, with at most
 * CLOSE_GRACE_MS more for its standard error to be read to its end.
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { MachineArena } from "../memory/arena.ts";
import { SHM_ADDON_PATH } from "../native/shm.ts";
import type { ToCell } from "./protocol.ts";
import { HostBell } from "./host-bell.ts";

/**
 * The cell's C heap in one glibc arena (MALLOC_ARENA_MAX), not one per thread that allocates. A
 * cell's threads — its main thread, its domain's worker, V8's helpers — each kept an arena of their
 * own, and what each arena holds free stays with it. Eight idle 4 MiB domains, each cell's PSS
 * after 100 s (the memory reducer has run, the heap trim too), twice each way: 15.18 and 15.21 MiB
 * of anonymous memory a cell with the default, 13.80 and 13.80 with one arena; `--v8-pool-size=1`
 * (fewer helper threads) saved 0.7 alone and nothing beside this. Bulk TCP and HTTP between two
 * guests in cells (`pnpm bench --quick tcp`, alternated twice) moved within their noise: 0.85,
 * 0.94 against 0.82, 0.83 Gbit/s; 4154, 3367 against 3921, 3429 GETs a second. The threads of a
 * cell rarely allocate at once: its guest's hot paths never call malloc.
 */
const CELL_MALLOC_ARENAS = "1";

/** How much of a cell's standard error is kept for the crash reason (V8's fatal message). */
const STDERR_TAIL = 8192;

/** The cell's end of its bell is this fd in the cell (realm/cell-bell.ts). */
export const BELL_FD = 5;

/**
 * How long after a cell's exit its standard error may still be read. A process the cell started
 * can hold that pipe open for as long as it lives, and with it Node's "close".
 */
const CLOSE_GRACE_MS = 2000;

export type CellEnd = { code: number | null; signal: NodeJS.Signals | null };

/** A spawned cell process, with its bell and the tail of what it wrote to standard error. */
export interface Cell {
  child: ChildProcess;
  /** The hypervisor's end of the cell's bell. */
  bell: HostBell;
  stderr: string;
  /** Where its standard error goes, a line at a time, once it runs a domain. */
  onLine?: (line: string) => void;
  exited: Promise<CellEnd>;
  /** The supervisor's code cache it was sent, if any. */
  sentCache?: Uint8Array;
  /** Why the process could not be started, if it could not. */
  failed?: string;
}

/** Sends `m` to the cell if it listens; a write that fails is the cell's end, which its exit reports. */
export function sendTo(cell: Cell, m: ToCell): void {
  if (cell.child.connected) cell.child.send(m, () => {});
}

/**
 * Spawns a cell running `script` (cell-main.ts), unref'd (a spare cell does not keep the
 * hypervisor's process alive; `awaited` says when someone waits for it), and sends it `init`.
 * `ring` is what a byte on its bell does.
 */
export function spawnCell(arena: MachineArena, script: string, ring: () => void, init: ToCell): Cell {
  // PVKIT_PERF_MAP=1: cells write /tmp/perf-<pid>.map, so `perf` names a guest's JIT frames there
  // as it does the host's (started with --perf-basic-prof). For profiling only: maps grow forever.
  const flags = process.env.PVKIT_PERF_MAP === "1" ? ["--perf-basic-prof"] : [];
  const bell = new HostBell(ring);
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [...flags, "-e", script], {
      stdio: ["ignore", "inherit", "pipe", "ipc", arena.fd, bell.forCell],
      env: { PVKIT_SHM_ADDON: SHM_ADDON_PATH, MALLOC_ARENA_MAX: CELL_MALLOC_ARENAS },
    });
  } catch (e) {
    bell.close();
    throw e;
  } finally {
    bell.spawned();
  }
  let end!: (e: CellEnd) => void;
  const cell: Cell = { child, bell, stderr: "", exited: new Promise((r) => (end = r)) };
  // "close", not "exit": its standard error is read to the end. But not forever (CLOSE_GRACE_MS).
  child.once("close", (code, signal) => end({ code, signal }));
  child.once("exit", (code, signal) => {
    bell.close(); // nothing the cell left in it may keep anything of it open
    const late = setTimeout(() => {
      child.stderr?.destroy();
      end({ code, signal });
    }, CLOSE_GRACE_MS);
    child.once("close", () => clearTimeout(late));
  });
  // A process that never started (EAGAIN past a process limit, EMFILE, ENOMEM) has no exit to wait
  // for; a later error (an IPC write to a cell that stopped reading) changes nothing: its exit says.
  child.on("error", (e) => {
    if (child.pid !== undefined) return;
    cell.failed ??= `its cell process could not start (${e.message})`;
    bell.close();
    end({ code: null, signal: null });
  });
  let partial = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    cell.stderr = (cell.stderr + chunk).slice(-STDERR_TAIL);
    const lines = (partial + chunk).split("\n");
    partial = lines.pop()!.slice(-STDERR_TAIL);
    for (const line of lines) if (line) cell.onLine?.(line.slice(0, 1024));
  });
  child.unref();
  (child.channel as { unref?: () => void } | undefined)?.unref?.();
  (child.stderr as { unref?: () => void } | null)?.unref?.();
  sendTo(cell, init);
  return cell;
}

/**
 * Someone waits for `cell` to end (`exited`, its "close"): the process and its standard error keep
 * this one alive until then. The error stream counts too: "close" waits for it to be read to its
 * end, and with only an unref'd pipe left once the process has exited, Node could end this process
 * first — its top-level await unsettled (exit 13), as `pnpm bench density` once did in CI.
 */
export function awaited(cell: Cell): void {
  cell.child.ref();
  (cell.child.stderr as { ref?: () => void } | null)?.ref?.();
}
