/**
 * XS_CONTROL, what `xenstore-control` sends: C xenstored 4.17's commands with its argument rules,
 * replies and errors. `check` verifies the store's structure and repairs it, `log`/`logfile` trace every request
 * to a file, `memreport` writes what the store holds, `quota`/`quota-soft` show and set the limits
 * (a new value applies from the next request), `quota <domid>` shows what a domain uses.
 * (live-update has no meaning for a store that lives in dom0's process: EINVAL, as an unknown command.)
 */
import { appendFileSync } from "node:fs";
import { XsdError, check } from "./errors.ts";
import { joinPath } from "./path.ts";
import { atoi, atou } from "./wire.ts";
import { HARD_QUOTAS, SOFT_QUOTAS, type QuotaLimits } from "./quota.ts";
import type { Tree } from "./tree.ts";

/** What the commands read of the server. */
export interface ControlTarget {
  readonly tree: Tree;
  readonly quota: QuotaLimits;
  /** A known domain's use, or undefined (ENOENT) for an unknown one. */
  domainUse(
    domid: number,
  ): { watches: number; transactions: number; outstanding: number; memory: number } | undefined;
  /** Connections, watches and transactions, for memreport. */
  summary(): string[];
  log(line: string): void;
}

/** The trace file and whether requests are traced to it (`log on|off`, `logfile`). */
export class ControlState {
  traceFile?: string;
  tracing = false;

  /** Appends a line to the trace file when tracing. */
  trace(line: string): void {
    if (!this.tracing || !this.traceFile) return;
    try {
      appendFileSync(this.traceFile, `${new Date().toISOString()} ${line}\n`);
    } catch {
      this.tracing = false; // a trace file that cannot be written stops tracing, never the store
    }
  }
}

const COMMANDS: [name: string, pars: string][] = [
  ["check", ""],
  ["log", "on|off"],
  ["logfile", "<file>"],
  ["memreport", "[<file>]"],
  ["print", "<string>"],
  ["quota", "[set <name> <val>|<domid>]"],
  ["quota-soft", "[set <name> <val>]"],
  ["help", ""],
];

/** Runs one control command (`args[0]`) and returns the reply payload. */
export function runControl(t: ControlTarget, state: ControlState, args: string[]): string {
  const [cmd, ...vec] = args;
  const num = vec.length;
  switch (cmd) {
    case "check":
      check(num === 0, "EINVAL");
      checkStore(t);
      return "OK\0";
    case "log":
      check(num === 1 && (vec[0] === "on" || vec[0] === "off"), "EINVAL");
      state.tracing = vec[0] === "on";
      return "OK\0";
    case "logfile":
      check(num === 1, "EINVAL");
      state.traceFile = vec[0];
      return "OK\0";
    case "memreport": {
      check(num <= 1, "EINVAL");
      const file = vec[0] ?? state.traceFile;
      // Xen: EBADF without a file to write to, which reaches the client as EINVAL.
      check(file, "EINVAL", "no trace file");
      try {
        appendFileSync(file, memReport(t).join("\n") + "\n");
      } catch {
        throw new XsdError("EINVAL", `cannot write ${file}`);
      }
      return "OK\0";
    }
    case "print":
      check(num === 1, "EINVAL");
      t.log(`control: ${vec[0]}`);
      return "OK\0";
    case "quota":
      if (num === 0) return settings(t.quota, HARD_QUOTAS);
      if (vec[0] === "set") return setQuota(t.quota, vec.slice(1), HARD_QUOTAS);
      check(num === 1, "EINVAL");
      return domainQuota(t, atou(vec[0]));
    case "quota-soft":
      if (num === 0) return settings(t.quota, SOFT_QUOTAS);
      check(vec[0] === "set", "EINVAL");
      return setQuota(t.quota, vec.slice(1), SOFT_QUOTAS);
    case "help":
      check(num === 0, "EINVAL");
      return COMMANDS.map(([c, p]) => `${c}\t${p}\n`).join("") + "\0";
    default:
      throw new XsdError("EINVAL", `unknown control command "${cmd ?? ""}"`);
  }
}

type QuotaTable = typeof HARD_QUOTAS;

function settings(q: QuotaLimits, table: QuotaTable): string {
  const lines = table.map((e) => `${e.name.padEnd(17)}: ${String(q[e.field]).padStart(8)} ${e.descr}\n`);
  return "Quota settings:\n" + lines.join("") + "\0";
}

function setQuota(q: QuotaLimits, vec: string[], table: QuotaTable): string {
  check(vec.length === 2, "EINVAL");
  const val = atoi(vec[1]);
  check(val >= 1, "EINVAL", "a quota is at least 1");
  const entry = table.find((e) => e.name === vec[0]);
  check(entry, "EINVAL", `no quota "${vec[0]}"`);
  q[entry.field] = val;
  return "OK\0";
}

function domainQuota(t: ControlTarget, domid: number): string {
  const use = t.domainUse(domid);
  check(use, "ENOENT", `domain ${domid} unknown`);
  const row = (name: string, n: number) => `${name.padEnd(16)}: ${String(n).padStart(8)}\n`;
  return (
    `Domain ${domid}:\n` +
    row("nodes", t.tree.entries(domid)) +
    row("watches", use.watches) +
    row("transactions", use.transactions) +
    row("outstanding", use.outstanding) +
    row("memory", use.memory) +
    "\0"
  );
}

/**
 * Walks the store from "/" as check_store does, and repairs it as Xen does by default (recovery):
 * a child a node lists that does not exist, or lists twice, leaves the list; a node no walk reaches
 * is deleted. Each problem is logged, one line each; a sound store is left untouched.
 */
function checkStore(t: ControlTarget): void {
  t.log("Checking store ...");
  const seen = new Set<string>();
  const stack = ["/"];
  while (stack.length > 0) {
    const path = stack.pop()!;
    const node = t.tree.get(path)!;
    seen.add(path);
    const kept: string[] = [];
    for (const c of node.children) {
      const child = joinPath(path, c);
      if (seen.has(child) || kept.includes(c)) t.log(`check_store: '${child}' is duplicated!`);
      else if (!t.tree.get(child)) t.log(`check_store: node '${child}' not found`);
      else {
        kept.push(c);
        stack.push(child);
      }
    }
    if (kept.length !== node.children.length) t.tree.put(path, { ...node, children: kept });
  }
  const orphans = [...t.tree.all()].map(([p]) => p).filter((p) => !seen.has(p));
  for (const p of orphans) {
    t.log(`clean_store: '${p}' is orphaned!`);
    t.tree.delete(p);
  }
  t.log("Checking store complete.");
}

/** memreport: what the store holds, per domain, and the connections. */
function memReport(t: ControlTarget): string[] {
  const owners = new Set<number>();
  for (const [, n] of t.tree.all()) owners.add(n.perms[0].id);
  return [
    `xenstored memory report: ${t.tree.size} nodes`,
    ...[...owners]
      .sort((a, b) => a - b)
      .map((d) => `  domain ${d}: ${t.tree.entries(d)} nodes of ${t.tree.memory(d)} bytes`),
    ...t.summary().map((l) => `  ${l}`),
  ];
}
