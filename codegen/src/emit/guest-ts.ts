/**
 * generateGuest: abi/src/generated/guest.ts, the typed guest SDK. One method per sub-op (or per
 * hypercall without sub-ops); each marshals its struct into the vCPU scratch area, traps with the
 * register arguments in Xen's order and decodes what the hypervisor wrote back.
 */
import type { ArgDef, Scalar } from "@pvkit/abi";
import { CodeBlockWriter } from "ts-morph";
import { SCALAR_SIZE } from "../model/layout.ts";
import type { AbiModel, HypercallModel, SubopModel } from "../model/types.ts";
import { is64 } from "./codec-exprs.ts";
import { docComment } from "./ts-util.ts";

export function generateGuest(
  model: AbiModel,
  imports: { runtime: string; base: string; layout: string },
): string {
  const w = new CodeBlockWriter({ indentNumberOfSpaces: 2 });
  w.writeLine(`import type { HypercallTransport } from "${imports.runtime}";`);
  w.writeLine(`import { HypercallStubs } from "${imports.base}";`);
  w.writeLine(`import * as L from "${imports.layout}";`);
  w.writeLine(`export { XenError } from "${imports.runtime}";`);
  w.blankLine();
  docComment(
    w,
    "Every hypercall of the pvkit ABI as a typed function. Construct one per vCPU over its transport.\n" +
      "A negative result throws XenError carrying the Xen errno and its name.",
  );
  w.writeLine("export class Hypercalls extends HypercallStubs {");
  w.writeLine("  constructor(transport: HypercallTransport) {");
  w.writeLine("    super(transport);");
  w.writeLine("  }");
  w.writeLine("  protected errnoName(errno: number): string {");
  w.writeLine("    return L.errnoName(errno);");
  w.writeLine("  }");
  for (const h of model.hypercalls) {
    w.blankLine();
    if (h.subops.length === 0) {
      writeStub(w, h, undefined, `  ${h.tsName}`, "(", "}");
    } else {
      docComment(w, h.doc);
      w.writeLine(`  readonly ${h.tsName} = {`);
      for (const s of h.subops) writeStub(w, h, s, `    ${s.method}: `, "(", "},");
      w.writeLine("  };");
    }
  }
  w.writeLine("}");
  return w.toString();
}

const valueType = (t: Scalar | undefined) => (t && is64(t) ? "bigint" : "number");

/** What one stub is: its parameters, result type, and the statements around its trap. */
interface StubPlan {
  call: string;
  params: string[];
  returns: string;
  blocking: boolean;
  pre: string[];
  post: string[];
  regs: string[];
  ret: string;
}

/**
 * The SDK method's signature as a guest calls it, for the reference: `(arg: EvtchnSendIn): void`
 * (types named as `@pvkit/abi/layout` exports them). Derived from the same plan the stub is written
 * from, so the reference shows the real signature.
 */
export function stubSignature(h: HypercallModel, s: SubopModel | undefined): string {
  const p = planStub(h, s);
  const returns = p.blocking ? `Promise<${p.returns}>` : p.returns;
  return `(${p.params.join(", ")}): ${returns}`.replace(/\bL\./g, "");
}

function planStub(h: HypercallModel, s: SubopModel | undefined): StubPlan {
  const call = s ? `${h.name}.${s.name}` : h.name;
  const params: string[] = [];
  const pre: string[] = [];
  const post: string[] = [];
  const regs: string[] = [];
  const struct = s?.arg.kind === "struct" ? s.arg.struct : undefined;
  const result = s ? s.result : h.result;
  let returns = result === "value" ? "number" : "void";
  let ret = result === "value" ? "return r;" : "";

  const values = h.args.filter((a) => a.kind === "value");
  for (const a of values) params.push(`${a.name}: ${valueType(a.type)}`);

  if (h.envelope && s) {
    const e = h.envelope;
    const header = e.headerLayout.tsName;
    if (e.targetField) params.push(`${e.targetField}: number`);
    const fields = [`${e.cmdField}: ${s.number}`, `${e.versionField}: ${e.version}`];
    if (e.targetField) fields.push(`${e.targetField}`);
    pre.push(`const p = this.put(L.${header}, [{ ${fields.join(", ")} }], "${call}");`);
    if (struct) {
      params.push(`arg: L.${struct.tsName}In`);
      pre.push(`this.put(L.${struct.tsName}, [arg], "${call}", ${e.payloadOffset});`);
      if (struct.hasOut) {
        post.push(`const out = this.take(L.${struct.tsName}, 1, ${e.payloadOffset})[0]!;`);
        returns = result === "value" ? `{ value: number; out: L.${struct.tsName} }` : `L.${struct.tsName}`;
        ret = result === "value" ? "return { value: r, out };" : "return out;";
      }
    }
    regs.push("p");
  } else {
    const isArray = h.args.some((a) => a.kind === "structArray");
    if (struct && isArray) {
      params.push(`ops: L.${struct.tsName}In[]`);
      pre.push(`const p = this.put(L.${struct.tsName}, ops, "${call}");`);
      if (struct.hasOut) {
        post.push(`const out = this.take(L.${struct.tsName}, ops.length);`);
        returns = `L.${struct.tsName}[]`;
        ret = "return out;";
      }
    } else if (struct) {
      params.push(`arg: L.${struct.tsName}In`);
      pre.push(`const p = this.put(L.${struct.tsName}, [arg], "${call}");`);
      if (struct.hasOut) {
        post.push(`const out = this.take(L.${struct.tsName}, 1)[0]!;`);
        returns = result === "value" ? `{ value: number; out: L.${struct.tsName} }` : `L.${struct.tsName}`;
        ret = result === "value" ? "return { value: r, out };" : "return out;";
      }
    } else if (s?.arg.kind === "scalar") {
      params.push(`value: ${valueType(s.arg.type)}`);
      pre.push(`const p = this.putScalar(${SCALAR_SIZE[s.arg.type]}, value, "${call}");`);
    } else if (s?.buffer === "in") {
      params.push("bytes: Uint8Array");
      pre.push(`const p = this.putBytes(bytes, "${call}");`);
    } else if (s?.buffer === "out") {
      params.push("max: number");
      pre.push(`const p = this.reserve(max, "${call}");`);
      post.push("const out = this.takeBytes(Math.min(r, max));");
      returns = "Uint8Array";
      ret = "return out;";
    }
    for (const a of h.args) regs.push(register(a, s));
  }
  return { call, params, returns, blocking: s?.blocking ?? false, pre, post, regs, ret };
}

function writeStub(
  w: CodeBlockWriter,
  h: HypercallModel,
  s: SubopModel | undefined,
  head: string,
  open: string,
  close: string,
) {
  const { call, params, returns, blocking, pre, post, regs, ret } = planStub(h, s);
  const result = s ? s.result : h.result;
  const trap = blocking ? "await this.transport.trapAsync" : "this.transport.trap";
  const sig = `${blocking ? "async " : ""}${open}${params.join(", ")}): ${blocking ? `Promise<${returns}>` : returns}`;
  docComment(w, (s ?? h).doc);
  w.writeLine(`${head}${sig} ${s ? "=> " : ""}{`);
  for (const l of pre) w.writeLine(`  ${l}`);
  const needR = result === "value" || s?.buffer === "out";
  w.writeLine(
    `  ${needR ? "const r = " : ""}this.check(${trap}(${h.number}, [${regs.join(", ")}]), "${call}");`,
  );
  for (const l of post) w.writeLine(`  ${l}`);
  if (ret) w.writeLine(`  ${ret}`);
  w.writeLine(close);
}

function register(a: ArgDef, s: SubopModel | undefined): string {
  switch (a.kind) {
    case "subop":
      return `${s!.number}n`;
    case "value":
      return `this.reg(${a.name})`;
    case "struct":
    case "structArray":
    case "buffer":
      return s?.arg.kind === "none" && !s.buffer ? "0n" : "p";
    case "count":
      return s?.buffer === "in"
        ? "BigInt(bytes.length)"
        : s?.buffer === "out"
          ? "BigInt(max)"
          : "BigInt(ops.length)";
  }
}
