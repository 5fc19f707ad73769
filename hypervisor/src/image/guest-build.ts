/**
 * What every guest image build shares (kernel-image.ts, guest-image.ts): esbuild's options for
 * code that runs in a domU's realm — one bundle, in memory, plain ES2022 with no platform — and
 * the bookkeeping that tells when a cached image is stale: its input files and their mtimes.
 */
import { statSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import type { BuildOptions } from "esbuild";

export const GUEST_BUILD = {
  bundle: true,
  write: false,
  platform: "neutral",
  target: "es2022",
  mainFields: ["module", "main"],
  metafile: true,
  logLevel: "silent",
  legalComments: "none",
  charset: "utf8",
} as const satisfies BuildOptions;

/** The absolute paths of a build's input files, with their mtimes. */
export function inputsOf(
  repoRoot: string,
  metafile: { inputs: Record<string, unknown> },
): Map<string, number> {
  const inputs = new Map<string, number>();
  for (const input of Object.keys(metafile.inputs)) {
    if (input.startsWith("<")) continue; // stdin
    const abs = isAbsolute(input) ? input : join(repoRoot, input);
    inputs.set(abs, statSync(abs).mtimeMs);
  }
  return inputs;
}

/** Whether every input still has the mtime it was built from (undefined: still building, share it). */
export function unchanged(inputs: Map<string, number> | undefined): boolean {
  if (!inputs) return true;
  for (const [file, mtime] of inputs) {
    try {
      if (statSync(file).mtimeMs !== mtime) return false;
    } catch {
      return false;
    }
  }
  return true;
}
