/**
 * ABI compatibility: the definitions against the committed summary (abi/abi.summary) and against every
 * earlier committed version of it that has the same major version. A line whose key (kind + name)
 * disappears or changes is a break; a new key is an addition. Breaks are refused unless the ABI's major
 * version is greater than the summary's. Checking git history closes the obvious hole: regenerating the
 * summary by hand does not hide a break from a summary that was committed before.
 */
import { execFileSync } from "node:child_process";

export interface Summary {
  major: number;
  minor: number;
  lines: string[];
}

export interface Compat {
  additions: string[];
  breaks: string[];
}

export function parseSummary(text: string): Summary {
  const lines = text.split("\n").filter((l) => l.length > 0 && !l.startsWith("#"));
  const m = /^abi-version (\d+)\.(\d+)$/.exec(lines[0] ?? "");
  if (!m) throw new Error("abi/abi.summary: first line must be `abi-version <major>.<minor>`");
  return { major: Number(m[1]), minor: Number(m[2]), lines: lines.slice(1) };
}

/** `field evtchn_send.port 0 u32 in` → `field evtchn_send.port` */
const keyOf = (line: string) => line.split(" ").slice(0, 2).join(" ");

export function compare(old: string[], current: string[]): Compat {
  const now = new Map(current.map((l) => [keyOf(l), l]));
  const before = new Map(old.map((l) => [keyOf(l), l]));
  const breaks: string[] = [];
  for (const [key, line] of before) {
    const cur = now.get(key);
    if (cur === undefined) breaks.push(`removed: ${line}`);
    else if (cur !== line) breaks.push(`changed: ${line}  →  ${cur}`);
  }
  const additions = [...now.keys()].filter((k) => !before.has(k)).map((k) => now.get(k)!);
  return { additions, breaks };
}

/** Every committed version of the summary file (newest first), when `root` is a git checkout. */
export function committedSummaries(root: string, relPath: string): { commit: string; text: string }[] {
  try {
    const log = execFileSync("git", ["log", "--format=%H", "--", relPath], {
      cwd: root,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    return log
      .split("\n")
      .filter(Boolean)
      .map((commit) => ({
        commit,
        text: execFileSync("git", ["show", `${commit}:${relPath}`], {
          cwd: root,
          encoding: "utf8",
          stdio: ["ignore", "pipe", "ignore"],
        }),
      }));
  } catch {
    return [];
  }
}

/**
 * Checks `current` (lines) at version `major` against each earlier summary. Returns the breaks that
 * are not allowed (same major as the summary they break).
 */
export function unallowedBreaks(
  major: number,
  current: string[],
  summaries: { label: string; summary: Summary }[],
): string[] {
  const out: string[] = [];
  for (const { label, summary } of summaries) {
    if (major > summary.major) continue;
    for (const b of compare(summary.lines, current).breaks)
      out.push(`${b} (against ${label}, ABI ${summary.major}.${summary.minor})`);
  }
  return [...new Set(out)];
}
