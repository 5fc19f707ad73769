/**
 * Bad definitions: each gets one error naming the definition and the problem, and nothing is written.
 */
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { AbiDef, Definition } from "@pvkit/abi";
import { AbiDefinitionError, buildModel } from "../src/index.ts";
import { abi as tiny } from "./fixtures/tiny/abi.ts";
import { REPO, runCodegen, tempRoot } from "./helpers.ts";

type Mut = (defs: Definition[]) => Definition[];
const edit = (f: Mut): AbiDef => ({
  ...tiny,
  definitions: f(structuredClone([...tiny.definitions]) as Definition[]),
});
const find = (defs: Definition[], name: string) => defs.find((d) => "name" in d && d.name === name) as any;

const cases: [string, AbiDef, RegExp][] = [
  [
    "duplicate hypercall number",
    edit((d) => ((find(d, "demo_io").number = 64), d)),
    /^hypercall demo_op: duplicate number 64 \(also demo_io\)|^hypercall demo_io: duplicate number 64/,
  ],
  [
    "duplicate sub-op number",
    edit((d) => ((find(d, "demo_op").subops[1].number = 0), d)),
    /^hypercall demo_op sub-op all: duplicate sub-op number 0 \(also pair\)$/,
  ],
  [
    "unknown field type",
    edit((d) => ((find(d, "demo_pair").fields[0].type = "u24"), d)),
    /^demo_pair\.a: unknown type "u24"$/,
  ],
  [
    "unknown struct reference",
    edit((d) => ((find(d, "demo_op").subops[0].arg = "no_such_struct"), d)),
    /^hypercall demo_op sub-op pair: unknown argument type "no_such_struct"$/,
  ],
  [
    "declared size disagrees with the fields",
    edit((d) => ((find(d, "demo_pair").size = 12), d)),
    /^demo_pair: declared size 12 but its fields lay out to 16 bytes \(align 8\): a@0\+2, b@8\+8$/,
  ],
  [
    "name clash between two structs",
    edit((d) => [...d, { ...find(d, "demo_rsp") }]),
    /^struct demo_rsp: name clash: "demo_rsp" is already used by struct demo_rsp$/,
  ],
  [
    "name clash between a constant and a sub-op constant",
    edit((d) => ((find(d, "DEMO").values[0].name = "DEMOOP_pair"), d)),
    /name clash: "DEMOOP_pair" is already used by constant DEMOOP_pair/,
  ],
  [
    "pvkit hypercall outside the private range",
    edit((d) => ((find(d, "demo_timer").number = 12), d)),
    /^hypercall demo_timer: pvkit hypercalls take numbers from the private range \(>= 64\), not 12$/,
  ],
  [
    "ring size that breaks io/ring.h's rule",
    edit((d) => ((find(d, "demo").entries = 64), d)),
    /^ring demo: declares 64 entries but a 4096-byte page holds 32 of 72 bytes$/,
  ],
  [
    "envelope field missing from its header",
    edit((d) => ((find(d, "demo_ctl").envelope.cmdField = "command"), d)),
    /^hypercall demo_ctl: envelope field "command" is not in demo_hdr$/,
  ],
  [
    "documented errno the ABI does not define",
    edit((d) => ((find(d, "demo_op").subops[0].errors = [{ errno: "EWHATEVER", when: "never" }]), d)),
    /^hypercall demo_op sub-op pair: documents unknown errno "EWHATEVER"$/,
  ],
  [
    "documented errno without saying when",
    edit((d) => ((find(d, "demo_timer").errors = [{ errno: "EINVAL", when: " " }]), d)),
    /^hypercall demo_timer: says nothing about when EINVAL$/,
  ],
  [
    "example on a hypercall that has sub-ops",
    edit((d) => ((find(d, "demo_op").example = ["k.print(1);"]), d)),
    /^hypercall demo_op: an example belongs to each sub-op, not to a hypercall with sub-ops$/,
  ],
];

describe("buildModel refuses bad definitions", () => {
  it.each(cases)("%s", (_, abi, message) => {
    let err: unknown;
    try {
      buildModel(abi);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AbiDefinitionError);
    expect((err as Error).message).toMatch(message);
  });

  it("accepts the tiny fixture", () => {
    expect(buildModel(tiny).hypercalls.map((h) => h.name)).toContain("demo_ctl");
  });
});

describe("pnpm codegen with a bad definition", () => {
  it("prints one line naming it and writes nothing", async () => {
    const root = await tempRoot();
    const module = join(root, "bad-abi.ts");
    const src = `import { abi as t } from ${JSON.stringify(join(REPO, "codegen/test/fixtures/tiny/abi.ts"))};
export const abi = { ...t, definitions: t.definitions.map((d: any) => d.name === "demo_pair" ? { ...d, size: 12 } : d) };`;
    await writeFile(module, src);
    const out = join(root, "out");
    const r = await runCodegen(["--abi", module, "--root", out]);
    expect(r.code).toBe(1);
    expect(r.err.split("\n")).toHaveLength(1);
    expect(r.err).toMatch(/demo_pair: declared size 12/);
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);
  });
});
