/** Test helpers: run the generator in-process against a fixture ABI and a temporary output root. */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { afterAll } from "vitest";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { run } from "../src/main.ts";

export const FIXTURES = resolve(import.meta.dirname, "fixtures");
export const REPO = resolve(import.meta.dirname, "../..");

const roots: string[] = [];
// Every temporary root goes when the test file is done: no pvkit-* folders left in /tmp.
afterAll(async () => {
  for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
});

export async function tempRoot(prefix = "pvkit-codegen-"): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  roots.push(root);
  return root;
}

/** Runs `pnpm codegen` in-process; returns the exit code and what it printed. */
export async function runCodegen(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  try {
    const code = await run(args).catch((e: unknown) => {
      err.push(e instanceof Error ? e.message : String(e));
      return 1;
    });
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

export const read = (path: string) => readFile(path, "utf8");
