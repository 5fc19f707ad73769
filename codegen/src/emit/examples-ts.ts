/**
 * generateExamples: examples/generated/hypercall-examples.ts. Every example the reference shows, each
 * wrapped as the body of a guest program's `main(k)`, so that `pnpm typecheck` proves it compiles
 * against the real SDK (`k.hc`), the real argument types and the real constants. The file is compiled,
 * never run: some examples shut their domain down.
 *
 * An example names constants (DOMID_SELF, VIRQ_TIMER, ...), errno values and struct types as
 * `@pvkit/abi/layout` exports them, and `XenError` as `@pvkit/abi/guest` does; the imports are made
 * from the names it uses, and the reference says where each comes from.
 */
import { CodeBlockWriter } from "ts-morph";
import type { AbiModel, HypercallModel, SubopModel } from "../model/types.ts";
import { pascalCase } from "../model/names.ts";

export interface ExampleImports {
  /** Where KernelHandle (the `k` a guest program gets) is exported. */
  program: string;
  layout: string;
  guest: string;
}

/** Every example in the ABI, in reference order, with the call it belongs to. */
export function examplesOf(model: AbiModel): { h: HypercallModel; s?: SubopModel; lines: string[] }[] {
  const out: { h: HypercallModel; s?: SubopModel; lines: string[] }[] = [];
  for (const h of model.hypercalls) {
    if (h.example) out.push({ h, lines: h.example });
    for (const s of h.subops) if (s.example) out.push({ h, s, lines: s.example });
  }
  return out;
}

/** The `@pvkit/abi/layout` names an example uses: constants, errno values and struct types. */
function layoutNames(model: AbiModel, lines: readonly string[]): string[] {
  const known = new Set<string>([...model.constants.keys(), ...model.errno.keys()]);
  for (const st of model.structs.values()) known.add(st.tsName);
  const used = new Set<string>();
  for (const l of lines) {
    const code = l.replace(/(^|\s)\/\/.*$/, ""); // a name in a comment needs no import
    for (const m of code.matchAll(/\b[A-Za-z_][A-Za-z0-9_]*\b/g)) if (known.has(m[0])) used.add(m[0]);
  }
  return [...used];
}

export function generateExamples(model: AbiModel, imports: ExampleImports): string {
  const all = examplesOf(model);
  const w = new CodeBlockWriter({ indentNumberOfSpaces: 2 });
  w.writeLine("/**");
  w.writeLine(
    " * The reference's examples (docs/abi-reference.md), each as the body of a guest program's main(k):",
  );
  w.writeLine(" * compiled by `pnpm typecheck` so none of them can drift from the SDK. Never run.");
  w.writeLine(" */");
  if (all.length === 0) return w.toString();
  const lines = all.flatMap((e) => e.lines);
  const names = layoutNames(model, lines).sort();
  w.writeLine(`import type { KernelHandle } from "${imports.program}";`);
  if (names.length > 0) w.writeLine(`import { ${names.join(", ")} } from "${imports.layout}";`);
  if (lines.some((l) => /\bXenError\b/.test(l))) w.writeLine(`import { XenError } from "${imports.guest}";`);
  for (const { h, s, lines: body } of all) {
    w.blankLine();
    w.writeLine(`/** ${s ? `${h.name}.${s.name}` : h.name} */`);
    const name = s ? `${h.tsName}${pascalCase(s.name)}` : h.tsName;
    w.writeLine(`export async function ${name}(k: KernelHandle): Promise<void> {`);
    for (const l of body) w.writeLine(`  ${l}`);
    w.writeLine("}");
  }
  return w.toString();
}
