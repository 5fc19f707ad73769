/**
 * An in-memory model of a small filesystem tree, for property tests: each operation predicts the
 * error code POSIX (and pvkit's ext2) gives, or applies itself. Symlinks in the model all point into
 * "/nowhere", so they never resolve: writing through one is ENOENT, and the model stays simple.
 */
import fc from "fast-check";

export type Node = { kind: "file"; data: Uint8Array } | { kind: "dir" } | { kind: "link"; target: string };

export type Op =
  | { op: "writeFile"; path: string; data: Uint8Array }
  | { op: "appendFile"; path: string; data: Uint8Array }
  | { op: "truncate"; path: string; len: number }
  | { op: "mkdir"; path: string }
  | { op: "unlink"; path: string }
  | { op: "rmdir"; path: string }
  | { op: "rename"; from: string; to: string }
  | { op: "symlink"; target: string; path: string };

const names = ["a", "b", "c"];
/** Short paths mostly, so that operations meet each other's results often. */
const pathArb = fc
  .oneof(
    { weight: 5, arbitrary: fc.tuple(fc.constantFrom(...names)) },
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...names), fc.constantFrom("a", "b")) },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom(...names), fc.constantFrom("a", "b"), fc.constant("a")),
    },
  )
  .map((parts) => "/" + parts.join("/"));
/** Sizes that hit direct blocks, the indirect block and (with 1 KiB blocks) the double indirect one. */
const dataArb = fc
  .oneof(
    fc.constant(0),
    fc.integer({ min: 1, max: 3000 }),
    fc.integer({ min: 12 * 1024, max: 20 * 1024 }),
    fc.constant(280 * 1024),
  )
  .chain((n) => fc.integer({ min: 0, max: 255 }).map((seed) => fill(n, seed)));

function fill(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (seed + i * 31 + (i >> 10)) & 0xff;
  return out;
}

export const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ op: fc.constant("writeFile" as const), path: pathArb, data: dataArb }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant("appendFile" as const), path: pathArb, data: dataArb }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("truncate" as const),
      path: pathArb,
      len: fc.integer({ min: 0, max: 30_000 }),
    }),
  },
  { weight: 5, arbitrary: fc.record({ op: fc.constant("mkdir" as const), path: pathArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("unlink" as const), path: pathArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("rmdir" as const), path: pathArb }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant("rename" as const), from: pathArb, to: pathArb }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("symlink" as const),
      target: fc.integer({ min: 1, max: 120 }).map((n) => "/nowhere/" + "x".repeat(n)),
      path: pathArb,
    }),
  },
);

const parentOf = (p: string) => p.slice(0, p.lastIndexOf("/")) || "/";

export class Model {
  readonly nodes = new Map<string, Node>([["/", { kind: "dir" }]]);

  /** ENOENT/ENOTDIR if `dir` does not resolve to a directory, walking it from the root. */
  private dirError(dir: string): string | undefined {
    let at = "";
    for (const part of dir.split("/").filter(Boolean)) {
      at += "/" + part;
      const n = this.nodes.get(at);
      if (!n || n.kind === "link") return "ENOENT";
      if (n.kind === "file") return "ENOTDIR";
    }
    return undefined;
  }

  private children(dir: string): string[] {
    return [...this.nodes.keys()].filter((p) => p !== "/" && parentOf(p) === dir);
  }

  /** Applies `op`; returns the error code it must fail with, or undefined if it succeeds. */
  apply(o: Op): string | undefined {
    switch (o.op) {
      case "writeFile":
      case "appendFile":
      case "truncate": {
        const err = this.dirError(parentOf(o.path));
        if (err) return err;
        const n = this.nodes.get(o.path);
        if (n?.kind === "dir") return "EISDIR";
        if (n?.kind === "link") return "ENOENT";
        if (o.op === "truncate") {
          if (!n) return "ENOENT";
          const data = new Uint8Array(o.len);
          data.set(n.data.subarray(0, o.len));
          n.data = data;
        } else if (o.op === "appendFile" && n) {
          const data = new Uint8Array(n.data.length + o.data.length);
          data.set(n.data);
          data.set(o.data, n.data.length);
          n.data = data;
        } else this.nodes.set(o.path, { kind: "file", data: o.data.slice() });
        return undefined;
      }
      case "mkdir":
      case "symlink": {
        const err = this.dirError(parentOf(o.path));
        if (err) return err;
        if (this.nodes.has(o.path)) return "EEXIST";
        this.nodes.set(o.path, o.op === "mkdir" ? { kind: "dir" } : { kind: "link", target: o.target });
        return undefined;
      }
      case "unlink":
      case "rmdir": {
        const err = this.dirError(parentOf(o.path));
        if (err) return err;
        const n = this.nodes.get(o.path);
        if (!n) return "ENOENT";
        if (o.op === "unlink" && n.kind === "dir") return "EISDIR";
        if (o.op === "rmdir" && n.kind !== "dir") return "ENOTDIR";
        if (o.op === "rmdir" && this.children(o.path).length > 0) return "ENOTEMPTY";
        this.nodes.delete(o.path);
        return undefined;
      }
      case "rename":
        return this.rename(o.from, o.to);
    }
  }

  private rename(from: string, to: string): string | undefined {
    const err = this.dirError(parentOf(from)) ?? this.dirError(parentOf(to));
    if (err) return err;
    const src = this.nodes.get(from);
    if (!src) return "ENOENT";
    if (from === to) return undefined;
    if (src.kind === "dir" && (to + "/").startsWith(from + "/")) return "EINVAL";
    const dst = this.nodes.get(to);
    if (dst) {
      if (src.kind === "dir" && dst.kind !== "dir") return "ENOTDIR";
      if (src.kind !== "dir" && dst.kind === "dir") return "EISDIR";
      if (dst.kind === "dir" && this.children(to).length > 0) return "ENOTEMPTY";
      this.nodes.delete(to);
    }
    for (const [p, n] of [...this.nodes]) {
      if (p === from || p.startsWith(from + "/")) {
        this.nodes.delete(p);
        this.nodes.set(to + p.slice(from.length), n);
      }
    }
    return undefined;
  }
}
