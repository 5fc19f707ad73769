/**
 * What the hypervisor and a cell say to each other over the cell's IPC channel (JSON). A cell is a
 * process of its own that runs one domU's worker (hypervisor/src/cell/cell-main.ts): it maps the
 * frames its domain is handed, makes the views the worker gets, starts it, and reports how it ends.
 * Frames cross by number; nothing else of the machine crosses at all.
 */
import type { PooledBoot, SupervisorBoot, SupervisorReport } from "../realm/boot-data.ts";
import type { RunRef } from "../realm/memory-runs.ts";

/** A domain's boot data as a cell receives it: frames by number, views made in the cell. */
export type CellBoot = Omit<SupervisorBoot, "runs" | "sharedInfo" | "vcpuPage" | "doorbell" | "arena"> & {
  runs: RunRef[];
  sharedInfo: number;
  vcpuPage: number;
  doorbell: number;
};

/** The hypervisor to a cell. */
export type ToCell =
  /**
   * First, as soon as the cell is spawned: the script its worker runs, and V8's code cache for it
   * if the hypervisor has made one (base64; realm/code-cache.ts).
   */
  | { t: "init"; supervisor: string; cache?: string }
  /** The code cache, made after the cell was spawned: for its worker if it has not started. */
  | { t: "code-cache"; cache: string }
  /**
   * A pooled cell, before it has a domain: start the worker now, prepared for no domain
   * (realm/supervisor.ts, runPooled); it reports { t: "ready" } when it is.
   */
  | { t: "prepare"; pool: PooledBoot; options: Record<string, unknown> }
  /**
   * Then, once the cell is given a domain: start its worker with these Worker options, or give the
   * prepared worker its boot data (the options are then those it was prepared with).
   */
  | { t: "start"; boot: CellBoot; options: Record<string, unknown> }
  /** Its worker's thread ran while the activity sampler dozed: take a reading now (realm/doze.ts). */
  | { t: "sample" };

/** A cell to the hypervisor. */
export type FromCell =
  | { t: "report"; report: SupervisorReport }
  | { t: "error"; code?: string; reason: string }
  | { t: "exit"; code: number };
