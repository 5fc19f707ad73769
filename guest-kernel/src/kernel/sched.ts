/**
 * The scheduler: cooperative kernel tasks on async/await. A task is an async function; it runs
 * until it awaits, and is resumed from the run queue when what it waited for happens. The loop
 * runs the queue, dispatches events and, with nothing left to do, blocks the vCPU
 * (SCHEDOP_block). A task must never spin: wait on a WaitQueue, sleep, or yield().
 */
import type { Events } from "./events.ts";

/** What `ps` shows about a task. */
export type TaskState = "ready" | "running" | "waiting" | "done" | "failed";

export interface TaskInfo {
  id: number;
  name: string;
  state: TaskState;
  /** What it waits for when `waiting` ("sleep", "xenstore", "console", ...). */
  wchan: string;
  /** Times it was resumed from the run queue. */
  switches: number;
}

/** A handle a task body receives: how it tells the scheduler what it waits on. */
export interface Task {
  readonly info: Readonly<TaskInfo>;
  /** Marks the task waiting on `wchan` until `p` settles, then requeues it. */
  wait<T>(wchan: string, p: Promise<T>): Promise<T>;
  /** Goes to the back of the run queue. */
  yield(): Promise<void>;
}

/** A queue of tasks waiting for one condition (Mini-OS's wait_queue_head). */
export class WaitQueue {
  private waiters: (() => void)[] = [];
  /** Resolves at the next wake(). */
  wait(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }
  /** Wakes every waiter. */
  wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }
  get length(): number {
    return this.waiters.length;
  }
}

/** Drains the microtask queue (everything resumed so far runs to its next await). */
const settle = () => new Promise<void>((r) => setImmediate(r));

export class Scheduler {
  private readonly tasks = new Map<number, TaskInfo>();
  private readonly runq: (() => void)[] = [];
  private nextId = 1;
  private stopped = false;
  private wakeLoop: (() => void) | null = null;
  private blocked = false;
  /** Told when a task's body throws (the task is marked failed; the kernel carries on). */
  onTaskError: (name: string, err: unknown) => void = () => undefined;

  constructor(private readonly events: Events | null) {}

  /** Starts `body` as a new task. The returned promise settles when the task ends. */
  spawn<T>(name: string, body: (task: Task) => Promise<T>): Promise<T | undefined> {
    const info: TaskInfo = { id: this.nextId++, name, state: "ready", wchan: "", switches: 0 };
    this.tasks.set(info.id, info);
    const task: Task = {
      info,
      wait: async <U>(wchan: string, p: Promise<U>): Promise<U> => {
        info.state = "waiting";
        info.wchan = wchan;
        try {
          const v = await p;
          await this.requeue(info);
          return v;
        } catch (e) {
          await this.requeue(info);
          throw e;
        }
      },
      yield: () => this.requeue(info),
    };
    const run = async (): Promise<T | undefined> => {
      await this.requeue(info);
      try {
        const v = await body(task);
        info.state = "done";
        return v;
      } catch (e) {
        info.state = "failed";
        this.onTaskError(name, e);
        return undefined;
      } finally {
        info.wchan = "";
        // Finished tasks stay listed briefly for `ps`; drop all but the latest few.
        this.reap();
      }
    };
    return run();
  }

  /** Puts a task on the run queue and resolves when the loop picks it. */
  private requeue(info: TaskInfo): Promise<void> {
    info.state = "ready";
    info.wchan = "";
    return new Promise<void>((resolve) => {
      this.runq.push(() => {
        info.state = "running";
        info.switches++;
        resolve();
      });
      this.wakeLoop?.();
      // Woken from outside the event path (a host I/O callback in dom0) while the vCPU is
      // blocked: send ourselves an event so SCHEDOP_block returns and the loop runs us.
      if (this.blocked && this.events) {
        this.blocked = false;
        this.events.kick();
      }
    });
  }

  private reap(): void {
    const ended = [...this.tasks.values()].filter((t) => t.state === "done" || t.state === "failed");
    for (const t of ended.slice(0, Math.max(0, ended.length - 8))) this.tasks.delete(t.id);
  }

  /** Every task, oldest first. */
  list(): TaskInfo[] {
    return [...this.tasks.values()].map((t) => ({ ...t }));
  }

  /** Tasks that have not finished. */
  get alive(): number {
    return [...this.tasks.values()].filter((t) => t.state !== "done" && t.state !== "failed").length;
  }

  /** Makes run() return after its current pass. */
  stop(): void {
    this.stopped = true;
    this.wakeLoop?.();
    if (this.blocked && this.events) {
      this.blocked = false;
      this.events.kick();
    }
  }

  /** Runs one pass: resume every queued task (each to its next await) and dispatch events. */
  async runOnce(): Promise<number> {
    let work = 0;
    if (this.events?.hasPending()) work += this.events.dispatch();
    const batch = this.runq.splice(0);
    for (const resume of batch) resume();
    work += batch.length;
    await settle();
    return work;
  }

  /**
   * The kernel's main loop. With no queued task and no event flagged, the vCPU blocks until the
   * hypervisor raises one (without an Events object -- a unit test -- it waits for a spawn).
   */
  async run(): Promise<void> {
    while (!this.stopped) {
      const work = await this.runOnce();
      if (work > 0 || this.runq.length > 0 || this.stopped) continue;
      if (this.events) {
        this.blocked = true;
        await this.events.idle();
        this.blocked = false;
      } else {
        await new Promise<void>((r) => (this.wakeLoop = r));
        this.wakeLoop = null;
      }
    }
  }
}
