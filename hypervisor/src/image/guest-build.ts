/**
 * What every guest image build shares (kernel-image.ts, guest-image.ts): esbuild's options for
 * code that runs in a domU's realm — one bundle, in memory, plain ES2022 with no platform — and
 * the cache that keeps an image until one of its input files changes.
 */
import { statSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import type { BuildOptions } from "esbuild";
import { sourceGeneration, watchSources } from "./source-watch.ts";

export const GUEST_BUILD = {
  bundle: true,
  write: false,
  platform: "neutral",
  target: "es2022",
  mainFields: ["module", "main"],
  metafile: true,
  logLevel: "silent",
  legalComments: "none",
  charset: "ascii", // and see imageText
} as const satisfies BuildOptions;

/**
 * A build's output as an image's text, one byte a character. V8 keeps a script's source for the
 * script's life, and a string holding a single character past Latin-1 ("—", "→") takes two bytes
 * for every character — so does anything made from it, even once that character is gone — which
 * doubled every domain's copy of its image (1 MiB instead of 0.5). esbuild escapes what is code
 * (charset "ascii": strings, regular expressions, identifiers) but keeps the comments it keeps as
 * they are: in those the character is written as its code point, and the text is then made again,
 * one byte a character.
 */
export function imageText(output: string): string {
  const ascii = output.replace(
    /[^\x00-\x7f]/gu,
    (c) => `<U+${c.codePointAt(0)!.toString(16).toUpperCase()}>`,
  );
  return Buffer.from(ascii, "latin1").toString("latin1");
}

/** The absolute paths of a build's input files. */
export function inputFiles(repoRoot: string, metafile: { inputs: Record<string, unknown> }): string[] {
  return Object.keys(metafile.inputs)
    .filter((input) => !input.startsWith("<")) // stdin
    .map((input) => (isAbsolute(input) ? input : join(repoRoot, input)));
}

/**
 * What a build read: each input file's mtime and, while every input (and the directories on the
 * way) is watched (source-watch.ts), the source generation at which the mtimes were last known to
 * hold; undefined when they are not all watched, and then they are compared every time.
 */
export interface Inputs {
  readonly mtimes: Map<string, number>;
  verifiedAt?: number | undefined;
}

/** A build's inputs, watched from now on: watched first, then stat'ed (source-watch.ts says why). */
export function inputsOf(repoRoot: string, metafile: { inputs: Record<string, unknown> }): Inputs {
  const files = inputFiles(repoRoot, metafile);
  const watched = watchSources(files);
  const at = sourceGeneration();
  const mtimes = new Map(files.map((file) => [file, statSync(file).mtimeMs] as const));
  return { mtimes, verifiedAt: watched ? at : undefined };
}

/**
 * Whether every input still has the mtime it was built from (undefined: still building, share it).
 * Nothing watched changed since the mtimes were last found to hold: they still do, unlooked at.
 * Otherwise the inputs are watched again (a path may name another file now) and then compared.
 */
function unchanged(inputs: Inputs | undefined): boolean {
  if (!inputs) return true;
  const watched = inputs.verifiedAt !== undefined;
  if (watched && inputs.verifiedAt === sourceGeneration()) return true;
  const stillWatched = watched && watchSources(inputs.mtimes.keys());
  const at = sourceGeneration();
  for (const [file, mtime] of inputs.mtimes) {
    try {
      if (statSync(file).mtimeMs !== mtime) return false;
    } catch {
      return false;
    }
  }
  inputs.verifiedAt = stillWatched ? at : undefined;
  return true;
}

/**
 * Builds kept for reuse while every input file keeps its mtime and the caller's `tag` (what else
 * the build depended on) is the same. A build in progress is shared; a failed one is not kept, so
 * the user fixes the file and the next call builds again.
 */
export class KeptBuilds<T> {
  private readonly kept = new Map<string, { value: Promise<T>; tag: string; inputs?: Inputs }>();

  /**
   * The build for `key`: the kept one while still good (`reused` true), else `build`'s, which
   * reports its input files through `built` once it knows them.
   */
  get(
    key: string,
    tag: string,
    build: (built: (inputs: Inputs) => void) => Promise<T>,
  ): { value: Promise<T>; reused: boolean } {
    const hit = this.kept.get(key);
    if (hit && hit.tag === tag && unchanged(hit.inputs)) return { value: hit.value, reused: true };
    const entry: { value: Promise<T>; tag: string; inputs?: Inputs } = {
      value: Promise.resolve(undefined as never),
      tag,
    };
    entry.value = build((inputs) => (entry.inputs = inputs));
    this.kept.set(key, entry);
    entry.value.catch(() => this.kept.get(key) === entry && this.kept.delete(key));
    return { value: entry.value, reused: false };
  }
}
