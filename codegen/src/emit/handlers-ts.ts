/**
 * generateHandlers: hypervisor/src/generated/handlers.ts, the interface the hypervisor's handler table
 * must satisfy. Adding a hypercall or sub-op to the ABI adds a member here, so `tsc` names exactly the
 * handler the hypervisor lacks.
 */
import { CodeBlockWriter } from "ts-morph";
import type { AbiModel, HypercallModel, SubopModel } from "../model/types.ts";
import { is64 } from "./codec-exprs.ts";
import { docComment } from "./ts-util.ts";

export function generateHandlers(model: AbiModel, imports: { runtime: string; layout: string }): string {
  const w = new CodeBlockWriter({ indentNumberOfSpaces: 2 });
  w.writeLine(`import type { HandlerResult, HypercallContext } from "${imports.runtime}";`);
  w.writeLine(`import type * as L from "${imports.layout}";`);
  w.blankLine();
  docComment(
    w,
    "One handler per hypercall (or per sub-op). A handler returns Xen's `long`: >= 0 on success, -errno on\n" +
      "failure (or throws HypercallError). Struct arguments arrive decoded from one copy of guest memory;\n" +
      "set their out fields and the dispatcher copies the struct back when the call succeeds.",
  );
  w.writeLine("export interface HypercallHandlers<C extends HypercallContext> {");
  for (const h of model.hypercalls) {
    docComment(w, `${h.name} (${h.number}): ${h.doc}`);
    if (h.subops.length === 0) {
      w.writeLine(`  ${h.tsName}(${params(h, undefined).join(", ")}): HandlerResult;`);
      continue;
    }
    w.writeLine(`  ${h.tsName}: {`);
    for (const s of h.subops) {
      docComment(w, `${s.constName} (${s.number})${s.privileged ? " [privileged]" : ""}: ${s.doc}`);
      w.writeLine(`    ${s.method}(${params(h, s).join(", ")}): ${returnType(h, s)};`);
    }
    w.writeLine("  };");
  }
  w.writeLine("}");
  return w.toString();
}

function returnType(h: HypercallModel, s: SubopModel): string {
  if (h.args.some((a) => a.kind === "structArray")) return "number";
  if (s.buffer === "out") return "Uint8Array | HandlerResult";
  return "HandlerResult";
}

/** Handler parameters: ctx, then `value` registers in order, then the sub-op's argument. */
export function params(h: HypercallModel, s: SubopModel | undefined): string[] {
  const p = ["ctx: C"];
  for (const a of h.args)
    if (a.kind === "value") p.push(`${a.name}: ${a.type && is64(a.type) ? "bigint" : "number"}`);
  if (h.envelope?.targetField) p.push(`${h.envelope.targetField}: number`);
  if (!s) return p;
  if (s.arg.kind === "struct") {
    if (h.args.some((a) => a.kind === "structArray")) p.push(`op: L.${s.arg.struct.tsName}`, "index: number");
    else p.push(`arg: L.${s.arg.struct.tsName}`);
  } else if (s.arg.kind === "scalar") p.push(`value: ${is64(s.arg.type) ? "bigint" : "number"}`);
  if (s.buffer === "in") p.push("bytes: Uint8Array");
  if (s.buffer === "out") p.push("max: number");
  return p;
}
