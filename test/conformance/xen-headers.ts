/**
 * Helpers of the Xen-headers conformance test: turn the ABI model into "facts" (sizes, offsets,
 * constant values, hypercall/sub-op numbers, ring sizes), generate a C program that prints the same
 * facts from Xen's real public headers, and compare the two.
 *
 * A fact is a key such as `struct evtchn_send.port offset` with an integer value. The TS side comes
 * from buildModel (the layout authority of codegen); the C side from gcc and /usr/include/xen.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AbiModel, StructLayout } from "@pvkit/codegen";

export const XEN_INCLUDE = process.env.XEN_INCLUDE ?? "/usr/include";

/** One thing that can be measured on both sides. `c` is a C expression of integer type. */
export interface FactProbe {
  key: string;
  ts: bigint;
  c: string;
}

export interface Mismatch {
  key: string;
  ts: bigint;
  /** undefined: the C side does not know the name (reported by the probe program). */
  c: bigint | undefined;
}

/** Why the test cannot run here, or undefined when gcc and the Xen headers are present. */
export function unavailableReason(): string | undefined {
  if (!existsSync(join(XEN_INCLUDE, "xen", "xen.h")))
    return `Xen public headers not found at ${XEN_INCLUDE}/xen (install libxen-dev)`;
  try {
    execFileSync("gcc", ["--version"], { stdio: "ignore" });
  } catch {
    return "gcc not found";
  }
  return undefined;
}

/** The text of every Xen header, to tell a named struct from an anonymous one or a typedef. */
function headerTexts(): string {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name === "arch-arm" || e.name === "foreign") continue;
        walk(p);
      } else if (e.name.endsWith(".h")) out.push(readFileSync(p, "utf8"));
    }
  };
  walk(join(XEN_INCLUDE, "xen"));
  return out.join("\n");
}

/**
 * Resolves the C type of every xen-origin struct/union of the model: `struct NAME` / `union NAME`
 * when Xen declares it by that name; `NAME_t` when Xen has only a typedef (xen_extraversion_t, a
 * char array modelled as a one-field struct); otherwise the type of the field of a xen struct that
 * holds it (anonymous nested structs and unions: `__typeof__(((struct start_info *)0)->console)`).
 */
export function resolveCTypes(
  model: AbiModel,
  text = headerTexts(),
): Map<string, { c: string; wrapper: boolean }> {
  const resolved = new Map<string, { c: string; wrapper: boolean }>();
  const xen = [...model.structs.values()].filter((s) => s.origin === "xen");
  const esc = (s: string) => s.replace(/[^A-Za-z0-9_]/g, "");
  for (const s of xen) {
    if (new RegExp(`\\b${s.kind}\\s+${esc(s.name)}\\s*\\{`).test(text))
      resolved.set(s.name, { c: `${s.kind} ${s.name}`, wrapper: false });
    else if (new RegExp(`typedef\\s[^;]*\\b${esc(s.name)}_t\\b`).test(text) && s.fields.length === 1)
      resolved.set(s.name, { c: `${s.name}_t`, wrapper: true });
  }
  // Anonymous ones: through a parent that is already resolved (repeat until nothing changes).
  for (let changed = true; changed;) {
    changed = false;
    for (const parent of xen) {
      const p = resolved.get(parent.name);
      if (!p || p.wrapper) continue;
      for (const f of parent.fields) {
        const t = f.type;
        if (typeof t !== "object" || !("struct" in t || "union" in t)) continue;
        const child = "struct" in t ? t.struct : t.union;
        if (resolved.has(child)) continue;
        resolved.set(child, { c: `__typeof__(((${p.c} *)0)->${f.name})`, wrapper: false });
        changed = true;
      }
    }
  }
  return resolved;
}

const big = (v: number | bigint) => BigInt.asIntN(64, BigInt(v));

/** Every fact of the xen-origin part of the model, with the C expression that measures it. */
export function probes(model: AbiModel, cTypes: Map<string, { c: string; wrapper: boolean }>): FactProbe[] {
  const out: FactProbe[] = [];
  const structFacts = (s: StructLayout, c: { c: string; wrapper: boolean }) => {
    out.push({ key: `${s.kind} ${s.name} sizeof`, ts: big(s.size), c: `sizeof(${c.c})` });
    for (const f of s.fields) {
      const k = `${s.kind} ${s.name}.${f.name}`;
      if (c.wrapper) {
        out.push({ key: `${k} offset`, ts: big(f.offset), c: "0" });
        out.push({ key: `${k} size`, ts: big(f.size), c: `sizeof(${c.c})` });
      } else {
        out.push({ key: `${k} offset`, ts: big(f.offset), c: `offsetof(${c.c}, ${f.name})` });
        out.push({ key: `${k} size`, ts: big(f.size), c: `sizeof(((${c.c} *)0)->${f.name})` });
      }
    }
  };
  for (const s of model.structs.values()) {
    if (s.origin !== "xen") continue;
    const c = cTypes.get(s.name);
    // Unknown to Xen's headers: a probe that fails to compile would hide every other fact, so the
    // key is emitted with no C expression and reported as missing.
    if (!c) out.push({ key: `${s.kind} ${s.name} sizeof`, ts: big(s.size), c: "" });
    else structFacts(s, c);
  }
  for (const [name, k] of model.constants) {
    if (k.origin !== "xen") continue;
    out.push({ key: `constant ${name}`, ts: big(k.value), c: name });
  }
  for (const [name, v] of model.errno) out.push({ key: `errno ${name}`, ts: big(v), c: `XEN_${name}` });
  for (const h of model.hypercalls) {
    if (h.origin !== "xen") continue;
    out.push({ key: `hypercall ${h.name}`, ts: big(h.number), c: h.constName });
    for (const s of h.subops) out.push({ key: `subop ${s.constName}`, ts: big(s.number), c: s.constName });
    const env = h.envelope;
    if (env) {
      const whole = `struct xen_${h.name}`;
      const k = `envelope ${h.name}`;
      out.push({ key: `${k} size`, ts: big(env.size), c: `sizeof(${whole})` });
      out.push({ key: `${k} payloadOffset`, ts: big(env.payloadOffset), c: `offsetof(${whole}, u)` });
      out.push({
        key: `${k} version`,
        ts: big(env.version),
        c: `XEN_${h.name.toUpperCase()}_INTERFACE_VERSION`,
      });
      for (const f of env.headerLayout.fields) {
        out.push({ key: `${k}.${f.name} offset`, ts: big(f.offset), c: `offsetof(${whole}, ${f.name})` });
        out.push({ key: `${k}.${f.name} size`, ts: big(f.size), c: `sizeof(((${whole} *)0)->${f.name})` });
      }
    }
  }
  for (const r of model.rings.values()) {
    if (r.origin !== "xen") continue;
    out.push({
      key: `ring ${r.name} entries`,
      ts: big(r.entries),
      c: `__CONST_RING_SIZE(${r.name}, ${r.pageSize})`,
    });
    out.push({
      key: `ring ${r.name} entrySize`,
      ts: big(r.entrySize),
      c: `sizeof(union ${r.name}_sring_entry)`,
    });
  }
  return out;
}

/** Headers the probe program includes: every header a xen-origin definition names, and io/ring.h. */
export function headersOf(model: AbiModel): string[] {
  const hs = new Set<string>(["xen/xen.h", "xen/errno.h", "xen/io/ring.h"]);
  for (const s of model.structs.values()) if (s.origin === "xen" && s.header) hs.add(s.header);
  for (const c of model.constants.values()) if (c.origin === "xen" && c.header) hs.add(c.header);
  for (const h of model.hypercalls) if (h.origin === "xen" && h.header) hs.add(h.header);
  return [...hs].sort();
}

/** The C program: one JSON line per probe, `{"k": key, "v": "value"}`; probe i is on line first + i. */
export function cProgram(
  headers: readonly string[],
  ps: readonly FactProbe[],
): { source: string; first: number } {
  const head = [
    "/* Generated by test/conformance/xen-headers.ts: prints ABI facts from Xen's headers. */",
    "#include <stdint.h>",
    "#include <stddef.h>",
    "#include <stdio.h>",
    "#include <errno.h>",
    "/* domctl.h and sysctl.h (and grant_entry_v1) are visible to the toolstack only. */",
    "#define __XEN_TOOLS__ 1",
    ...headers.map((h) => `#include <${h}>`),
    '#define P(k, v) printf("{\\"k\\":\\"%s\\",\\"v\\":\\"%lld\\"}\\n", k, (long long)(v))',
    "int main(void) {",
  ];
  const body = ps.map((p) =>
    p.c === "" ? "  /* not in Xen's headers */" : `  P(${JSON.stringify(p.key)}, ${p.c});`,
  );
  return { source: [...head, ...body, "  return 0;", "}", ""].join("\n"), first: head.length + 1 };
}

/**
 * Compiles and runs the probe program; returns the facts it printed. A probe that does not compile
 * (a name Xen's headers do not have) is dropped and retried without, so that it shows up as "not
 * found" instead of hiding every other fact. Throws when gcc fails for another reason.
 */
export function runProbes(
  headers: readonly string[],
  probesIn: readonly FactProbe[],
  interfaceVersion: number,
): Map<string, bigint> {
  const dir = mkdtempSync(join(tmpdir(), "pvkit-xen-headers-"));
  let ps = [...probesIn];
  try {
    const src = join(dir, "probe.c");
    const exe = join(dir, "probe");
    const ver = `-D__XEN_INTERFACE_VERSION__=0x${interfaceVersion.toString(16).padStart(8, "0")}`;
    for (let attempt = 0; ; attempt++) {
      const { source, first } = cProgram(headers, ps);
      writeFileSync(src, source);
      try {
        execFileSync("gcc", ["-std=gnu11", "-w", ver, `-I${XEN_INCLUDE}`, "-o", exe, src], {
          stdio: ["ignore", "pipe", "pipe"],
        });
        break;
      } catch (e) {
        const stderr = String((e as { stderr?: Buffer }).stderr ?? e);
        const bad = new Set<number>();
        for (const m of stderr.matchAll(/probe\.c:(\d+):\d+: error/g)) {
          const i = Number(m[1]) - first;
          if (i >= 0 && i < ps.length && ps[i]!.c !== "") bad.add(i);
        }
        if (bad.size === 0 || attempt >= 20)
          throw new Error(`probe program does not compile against Xen's headers:\n${stderr}`);
        ps = ps.map((p, i) => (bad.has(i) ? { ...p, c: "" } : p));
      }
    }
    const out = execFileSync(exe, { encoding: "utf8" });
    const facts = new Map<string, bigint>();
    for (const line of out.split("\n")) {
      if (line.trim() === "") continue;
      const { k, v } = JSON.parse(line) as { k: string; v: string };
      facts.set(k, BigInt(v));
    }
    return facts;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every probe whose TS value differs from the C one, or that the C side does not have. */
export function compareFacts(ps: readonly FactProbe[], c: Map<string, bigint>): Mismatch[] {
  const out: Mismatch[] = [];
  for (const p of ps) {
    const v = c.get(p.key);
    if (v === undefined || v !== p.ts) out.push({ key: p.key, ts: p.ts, c: v });
  }
  return out;
}

export function formatMismatches(ms: readonly Mismatch[]): string {
  return ms
    .map((m) => `${m.key}: pvkit ${m.ts}, Xen ${m.c === undefined ? "(not found in Xen's headers)" : m.c}`)
    .join("\n");
}
