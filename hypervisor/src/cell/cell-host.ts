/**
 * The hypervisor's side of cells: each domU's worker runs in a process of its own (cell-main.ts), so
 * that V8 aborting on one allocation past a heap limit, or any other death of a process, ends that
 * domain and nothing else — the hypervisor, dom0 and the other domains carry on, and the domain is
 * crashed with the reason. One cell is kept spawned ahead, so creating a domain does not wait for a
 * process to start.
 *
 * A CellWorker is the domain's handle to its cell: it starts the worker there, wakes its guest (a
 * futex for a guest asleep in a synchronous trap, a byte on the cell's bell for one that waits with
 * its event loop free), passes the bell's bytes from the guest on to the trap service, and reports
 * the cell's end as a local worker's end is reported. The domain is gone —
 * its frames free to reuse — only when the process is, since the process holds every view it made.
 *
 * Rule: the only input from a cell is its IPC messages, its standard error and its bell; each is
 * bounded, and a bell's bytes mean nothing but "look at the doorbell".
 */
import type { Domain } from "../domain/domain.ts";
import {
  heapLimitMb,
  workerOptions,
  type DomainWorker,
  type WorkerEvents,
  type WorkerSpec,
} from "../domain/worker.ts";
import type { MachineArena } from "../memory/arena.ts";
import { SHM_ADDON_PATH, shm } from "../native/shm.ts";
import { SUPERVISOR_CRASH_EXIT, type KernelImageRef, type PooledBoot } from "../realm/boot-data.ts";
import type { PooledWorker } from "../pool/warm-pool.ts";
import { HOST_IDLE_MS, HOST_WORKING_MS, WAIT_MODE, WaitMode } from "../realm/vcpu-page.ts";
import type { CellBoot, FromCell, ToCell } from "./protocol.ts";
import { awaited, BELL_FD, sendTo, spawnCell, type Cell } from "./cell-process.ts";
import { onSupervisorCodeCache, supervisorCodeFor, supervisorCodeRefused } from "../image/supervisor-code.ts";

export class CellHost {
  private spare?: Cell;
  private closed = false;
  /** V8's code cache of the supervisor once made (image/supervisor-code.ts), and as base64. */
  private cache?: { bytes: Uint8Array; base64: string };
  private readonly stopCacheUpdates: () => void;

  /**
   * @param scripts the cell's main script and the supervisor every worker runs
   * @param log where a cell's standard error goes, a line at a time
   * @param ring what a guest's ring on its cell's bell does (wake the trap service)
   */
  constructor(
    private readonly arena: MachineArena,
    private readonly scripts: { cell: string; supervisor: string },
    private readonly log: (line: string) => void,
    private readonly ring: () => void,
  ) {
    // The code cache is made in the background; the spare cell spawned meanwhile gets it then.
    const take = (bytes: Uint8Array) => {
      this.cache = { bytes, base64: Buffer.from(bytes).toString("base64") };
      if (this.spare && !this.spare.sentCache) {
        sendTo(this.spare, { t: "code-cache", cache: this.cache.base64 });
        this.spare.sentCache = bytes;
      }
    };
    this.stopCacheUpdates = onSupervisorCodeCache(take);
    const now = supervisorCodeFor(scripts.supervisor).cache; // and starts making one
    if (now) take(now);
  }

  private spawnCell(): Cell {
    const init: ToCell = { t: "init", supervisor: this.scripts.supervisor };
    const cache = this.cache;
    if (cache) init.cache = cache.base64;
    const cell = spawnCell(this.arena, this.scripts.cell, this.ring, init);
    if (cache) cell.sentCache = cache.bytes;
    return cell;
  }

  /** A fresh cell for a domain; the next one starts spawning at once. */
  private take(): Cell {
    const cell = this.spare && this.spare.child.exitCode === null ? this.spare : this.spawnCell();
    try {
      this.spare = this.closed ? undefined : this.spawnCell();
    } catch (e) {
      // No spare now (out of file descriptors, say): the next domain spawns its own.
      this.spare = undefined;
      this.log(`pvkit: no spare cell: ${(e as Error).message}`);
    }
    return cell;
  }

  /**
   * A pooled cell (hypervisor/src/pool): spawned now, its worker started with nothing of any domain
   * and prepared for `jsLimitBytes`, with `kernel` (the kernel image) evaluated. `lost` hears if it
   * dies before a domain takes it.
   */
  prepare(
    jsLimitBytes: number,
    heapHeadroomMiB: number,
    kernel: KernelImageRef | undefined,
    lost: (why: string) => void,
  ): PooledCell {
    const cell = this.spawnCell();
    const pool: PooledBoot = {
      addon: SHM_ADDON_PATH,
      bellFd: BELL_FD,
      jsLimitBytes,
      ...(kernel ? { kernel } : {}),
    };
    const options = { ...workerOptions(undefined, { jsLimitBytes, heapHeadroomMiB }), eval: true };
    sendTo(cell, { t: "prepare", pool, options });
    return new PooledCell(cell, jsLimitBytes, kernel?.id, lost);
  }

  /** Starts `d`'s worker in a cell of its own: a pooled one's if given, else a fresh cell. */
  start(
    d: Domain,
    spec: WorkerSpec,
    boot: CellBoot,
    events: WorkerEvents,
    pooled?: PooledCell,
  ): DomainWorker {
    const cell = pooled ? pooled.assign() : this.take();
    const worker = new CellWorker(d, spec, cell, events, this.log);
    d.worker = worker;
    d.vcpu.wakeGuest = () => worker.wakeGuest();
    worker.send({ t: "start", boot, options: { ...workerOptions(d, spec), eval: true } });
    return worker;
  }

  /** Ends the spare cell; cells of running domains end with their domains. */
  async close(): Promise<void> {
    this.closed = true;
    this.stopCacheUpdates();
    const spare = this.spare;
    this.spare = undefined;
    if (spare) {
      awaited(spare); // until it is gone: the caller waits for that
      spare.child.kill("SIGKILL");
      await spare.exited;
    }
  }
}

/** A pooled cell until a domain takes it (assign), once. */
export class PooledCell implements PooledWorker {
  readonly ready: Promise<boolean>;
  private assigned = false;

  constructor(
    private readonly cell: Cell,
    readonly jsLimitBytes: number,
    readonly kernelId: string | undefined,
    lost: (why: string) => void,
  ) {
    let said: string | undefined;
    const onMessage = (m: FromCell) => {
      if (m?.t === "report" && m.report?.t === "crash") said ??= String(m.report.reason).slice(0, 1024);
      else if (m?.t === "error") said ??= String(m.reason).slice(0, 1024);
    };
    // Preparing, it keeps the host's process alive (someone may wait for it); waiting, not.
    cell.child.ref();
    this.ready = new Promise((resolve) => {
      cell.child.on("message", (m: FromCell) => {
        if (this.assigned) return;
        if (m?.t === "report" && m.report?.t === "ready") {
          if (m.report.codeCache === "refused") supervisorCodeRefused(cell.sentCache);
          cell.child.unref();
          resolve(true);
        } else onMessage(m);
      });
      void cell.exited.then(({ code, signal }) => {
        resolve(false);
        if (!this.assigned)
          lost(
            said ??
              cell.failed ??
              `its cell ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`,
          );
      });
    });
  }

  get pid(): number {
    return this.cell.child.pid ?? 0;
  }

  /** The cell, for its domain: from now on the pool has nothing to do with it. */
  assign(): Cell {
    if (this.assigned) throw new Error("a pooled cell serves one domain only");
    this.assigned = true;
    return this.cell;
  }

  async retire(): Promise<void> {
    if (this.assigned) return;
    awaited(this.cell); // until it is gone: the caller waits for that
    this.cell.child.kill("SIGKILL");
    await this.cell.exited;
  }
}

/** A domain's worker in its cell. */
class CellWorker implements DomainWorker {
  private report?: string;
  private code?: number;
  private readonly gone: Promise<void>;

  constructor(
    private readonly d: Domain,
    private readonly spec: WorkerSpec,
    private readonly cell: Cell,
    events: WorkerEvents,
    log: (line: string) => void,
  ) {
    awaited(cell);
    (cell.child.channel as { ref?: () => void } | undefined)?.ref?.();
    cell.child.on("message", (m: FromCell) => this.onMessage(m));
    cell.onLine = (line) => log(`dom${d.domid} (${d.name}) cell: ${line}`);
    this.gone = cell.exited.then(({ code, signal }) => {
      const reason = this.report ?? (this.code === undefined ? this.death(code, signal) : undefined);
      if (reason !== undefined) events.onError(d, reason);
      else if (this.code === SUPERVISOR_CRASH_EXIT) events.onError(d, "the supervisor ended the domain");
      else events.onExit(d, this.code!);
      events.onGone(d);
    });
  }

  get pid(): number {
    return this.cell.child.pid ?? 0;
  }

  send(m: ToCell): void {
    sendTo(this.cell, m);
  }

  /** Ends the worker by ending its process: certain, immediate, and it frees every view it made. */
  terminate(): Promise<void> {
    if (this.cell.child.exitCode === null && this.cell.child.signalCode === null) {
      this.code ??= 1; // as a terminated Worker's exit code
      this.cell.child.kill("SIGKILL");
    }
    return this.gone;
  }

  poke(): void {
    this.send({ t: "sample" });
  }

  activity() {
    const host = this.d.vcpu.pageViews.host;
    const working = host[HOST_WORKING_MS]!;
    const idle = host[HOST_IDLE_MS]!;
    return working + idle > 0 ? { working, idle } : undefined;
  }

  /** After the hypervisor answered the trap: wake the guest the way it sleeps (realm/wakes.ts). */
  wakeGuest(): boolean {
    const v = this.d.vcpu;
    const mode = Atomics.load(v.wakeWords, WAIT_MODE);
    if (mode === WaitMode.futex) shm().wake(v.page.buffer, 0, 1);
    // One byte wakes the worker's event loop.
    else if (mode === WaitMode.bell) this.cell.bell.ring();
    return mode !== WaitMode.none;
  }

  private onMessage(m: FromCell): void {
    if (m?.t === "report" && m.report?.t === "crash" && typeof m.report.reason === "string")
      this.report ??= m.report.reason.slice(0, 1024);
    else if (m?.t === "error")
      this.report ??=
        m.code === "ERR_WORKER_OUT_OF_MEMORY"
          ? `out of memory (JS heap limit ${heapLimitMb(this.spec.jsLimitBytes, this.spec.heapHeadroomMiB)} MiB)`
          : String(m.reason).slice(0, 1024);
    else if (m?.t === "exit") this.code ??= Number(m.code);
  }

  /** Why the cell died without telling: V8's fatal message if it left one, else the signal or code. */
  private death(code: number | null, signal: NodeJS.Signals | null): string {
    if (this.cell.failed) return this.cell.failed;
    // V8 says "FATAL ERROR: <why>" (a heap limit) or "# Fatal <why>" (a check that failed, after a
    // "# Fatal error in <file>, line <n>" that names no file in a release build).
    const said = [...this.cell.stderr.matchAll(/^(?:FATAL ERROR: |# Fatal )(.*)$/gm)]
      .map((m) => m[1]!.trim())
      .filter((why) => why && !/^error in .*, line \d+$/.test(why));
    const fatal = said.at(-1);
    if (fatal)
      return `${/out of memory/i.test(fatal) ? "out of memory: " : ""}V8 aborted its cell process (${fatal})`;
    return `its cell process ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`;
  }
}
