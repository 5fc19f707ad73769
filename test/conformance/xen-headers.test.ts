/**
 * Conformance with Xen's public headers: every xen-origin struct and union (sizeof, and offset and
 * size of every field), constant, errno value, hypercall and sub-op number, domctl/sysctl envelope
 * and ring size in the ABI must equal what gcc computes from /usr/include/xen with
 * __XEN_INTERFACE_VERSION__ set to the ABI's xenInterfaceVersion.
 *
 * Without the headers (libxen-dev) or gcc the test fails under CI and is skipped elsewhere.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { abi } from "@pvkit/abi/abi";
import type { AbiDef, Definition, FieldDef } from "@pvkit/abi";
import { buildModel, type AbiModel } from "@pvkit/codegen";
import {
  compareFacts,
  formatMismatches,
  headersOf,
  probes,
  resolveCTypes,
  runProbes,
  unavailableReason,
  XEN_INCLUDE,
  type FactProbe,
} from "./xen-headers.ts";

const reason = unavailableReason();

if (reason !== undefined && process.env.CI) {
  it("Xen headers are available under CI", () => {
    throw new Error(`cannot check conformance with Xen's headers: ${reason}`);
  });
}

/** Runs the probes of `model` against Xen; `cFrom` picks which model's probes the C side measures. */
function check(model: AbiModel, cFrom: AbiModel = model) {
  const tsProbes = probes(model, resolveCTypes(model));
  const cProbes = probes(cFrom, resolveCTypes(cFrom));
  const c = runProbes(headersOf(cFrom), cProbes, abi.xenInterfaceVersion);
  return { tsProbes, c, mismatches: compareFacts(tsProbes, c) };
}

/** A copy of the ABI with one definition replaced. */
function withDefinition(name: string, change: (d: Definition) => Definition): AbiDef {
  let found = false;
  const definitions = abi.definitions.map((d) => {
    const n = "name" in d ? d.name : undefined;
    if (n !== name) return d;
    found = true;
    return change(d);
  });
  if (!found) throw new Error(`no definition ${name}`);
  return { ...abi, definitions };
}

describe.skipIf(reason !== undefined)(`Xen public headers${reason ? ` (skipped: ${reason})` : ""}`, () => {
  const model = buildModel(abi);
  let real: ReturnType<typeof check> | undefined;
  const realRun = () => (real ??= check(model));

  it("every xen-origin struct, constant, errno, hypercall, sub-op, envelope and ring matches", () => {
    const { tsProbes, mismatches } = realRun();
    // The test must have looked at the whole ABI, not at an empty selection.
    const kinds = new Set(tsProbes.map((p: FactProbe) => p.key.split(" ")[0]));
    for (const k of ["struct", "union", "constant", "errno", "hypercall", "subop"])
      expect(kinds).toContain(k);
    expect(mismatches, `ABI differs from Xen's headers:\n${formatMismatches(mismatches)}`).toEqual([]);
  });

  it("every xen-origin definition names an existing Xen header", () => {
    const bad: string[] = [];
    for (const d of abi.definitions) {
      if (!("origin" in d) || d.origin !== "xen" || d.kind === "ring") continue;
      const h = "header" in d ? d.header : undefined;
      if (h === undefined) bad.push(`${d.kind} ${d.name}: no header`);
      else if (!existsSync(join(XEN_INCLUDE, h))) bad.push(`${d.kind} ${d.name}: ${h} does not exist`);
    }
    expect(bad, bad.join("\n")).toEqual([]);
  });

  it("reports a field shifted by a byte (two u8 fields swapped) and nothing else", () => {
    const swapped = withDefinition("vcpu_info", (d) => {
      if (d.kind !== "struct") throw new Error("vcpu_info is not a struct");
      const [a, b, ...rest] = d.fields as FieldDef[];
      return { ...d, fields: [b!, a!, ...rest] };
    });
    const { mismatches } = check(buildModel(swapped), model);
    expect(mismatches.map((m) => [m.key, m.ts, m.c])).toEqual([
      ["struct vcpu_info.evtchn_upcall_mask offset", 0n, 1n],
      ["struct vcpu_info.evtchn_upcall_pending offset", 1n, 0n],
    ]);
    expect(formatMismatches(mismatches)).toContain(
      "struct vcpu_info.evtchn_upcall_pending offset: pvkit 1, Xen 0",
    );
  });

  it("reports exactly one field whose offset is off by one byte", () => {
    const shifted = buildModel(abi);
    const s = shifted.structs.get("gnttab_map_grant_ref")!;
    const f = s.fields.find((x) => x.name === "dom")!;
    f.offset += 1;
    const { c } = realRun();
    const mismatches = compareFacts(probes(shifted, resolveCTypes(shifted)), c);
    expect(mismatches.map((m) => [m.key, m.ts, m.c])).toEqual([
      ["struct gnttab_map_grant_ref.dom offset", 17n, 16n],
    ]);
  });

  it("reports exactly one changed constant", () => {
    const changed = withDefinition("VIRQ", (d) => {
      if (d.kind !== "constants") throw new Error("VIRQ is not a constant group");
      return { ...d, values: d.values.map((v) => (v.name === "VIRQ_DEBUG" ? { ...v, value: 99 } : v)) };
    });
    const m = buildModel(changed);
    const { c } = realRun();
    const mismatches = compareFacts(probes(m, resolveCTypes(m)), c);
    expect(mismatches.map((x) => [x.key, x.ts, x.c])).toEqual([["constant VIRQ_DEBUG", 99n, 1n]]);
  });

  it("reports a name Xen does not have as not found", () => {
    const renamed = withDefinition("VIRQ", (d) => {
      if (d.kind !== "constants") throw new Error("VIRQ is not a constant group");
      return { ...d, values: [...d.values, { name: "VIRQ_PVKIT_NOPE", value: 30, doc: "Not Xen's." }] };
    });
    const { mismatches } = check(buildModel(renamed));
    expect(mismatches.map((x) => [x.key, x.ts, x.c])).toEqual([["constant VIRQ_PVKIT_NOPE", 30n, undefined]]);
    expect(formatMismatches(mismatches)).toContain("not found in Xen's headers");
  });
});
