/**
 * generateDispatch: hypervisor/src/generated/dispatch.ts. A switch on the hypercall number, then on the
 * sub-op, that validates every register (range, privilege, interface version, array count), copies each
 * struct in exactly once, calls the handler and copies the struct back only on success. No exception
 * escapes: a handler bug becomes -EFAULT, never a crashed hypervisor.
 */
import type { Scalar } from "@pvkit/abi";
import { CodeBlockWriter } from "ts-morph";
import { SCALAR_SIZE } from "../model/layout.ts";
import { MAX_ARRAY, MAX_BUFFER } from "../model/errors.ts";
import type { AbiModel, HypercallModel, SubopModel } from "../model/types.ts";

const MAX: Record<Scalar, string> = {
  u8: "0xffn",
  u16: "0xffffn",
  u32: "0xffffffffn",
  u64: "",
  i8: "",
  i16: "",
  i32: "",
  i64: "",
};
const SIGNED: Partial<Record<Scalar, [string, string]>> = {
  i8: ["-128n", "127n"],
  i16: ["-32768n", "32767n"],
  i32: ["-2147483648n", "2147483647n"],
};
const GETTER: Record<number, string> = { 1: "getUint8(0)", 2: "getUint16(0, true)", 4: "getUint32(0, true)" };

const PREAMBLE = `
/** Most structs one array hypercall may carry (Xen batches grant ops in similar chunks). */
const MAX_ARRAY = ${MAX_ARRAY};
/** Most bytes one buffer argument may carry. */
const MAX_BUFFER = 1 << ${Math.log2(MAX_BUFFER)};

function failure(e: unknown, call: string): number {
  if (e instanceof HypercallError) return -e.errno;
  if (e instanceof GuestFault) return -L.EFAULT;
  console.error(\`pvkit: hypervisor bug in \${call}:\`, e);
  return -L.EFAULT;
}

/** Applies \`after\` (the copy-back) to a successful result, sync or async; failures become -errno. */
function settle(r: HandlerResult, call: string, after?: () => void): HandlerResult {
  if (typeof r === "number") {
    if (r >= 0 && after) after();
    return r;
  }
  return r.then(
    (n) => {
      if (n >= 0 && after) after();
      return n;
    },
  ).catch((e: unknown) => failure(e, call));
}

function copyIn<T>(ctx: HypercallContext, addr: bigint, codec: StructCodec<T>): T {
  return codec.decode(ctx.copyFromGuest(addr, codec.size), 0);
}

function copyBack<T>(ctx: HypercallContext, addr: bigint, codec: StructCodec<T>, value: T): void {
  const view = new DataView(new ArrayBuffer(codec.size));
  codec.encode(view, 0, value);
  ctx.copyToGuest(addr, new Uint8Array(view.buffer));
}
`;

export function generateDispatch(
  model: AbiModel,
  imports: { runtime: string; layout: string; handlers: string },
): string {
  const w = new CodeBlockWriter({ indentNumberOfSpaces: 2 });
  w.writeLine(
    `import { GuestFault, HypercallError, type HandlerResult, type HypercallContext, type StructCodec } from "${imports.runtime}";`,
  );
  w.writeLine(`import * as L from "${imports.layout}";`);
  w.writeLine(`import type { HypercallHandlers } from "${imports.handlers}";`);
  w.write(PREAMBLE);
  w.blankLine();
  w.writeLine("/** Runs one trapped hypercall: `op` and the guest's five 64-bit argument registers. */");
  w.writeLine("export function dispatchHypercall<C extends HypercallContext>(");
  w.writeLine("  h: HypercallHandlers<C>,");
  w.writeLine("  ctx: C,");
  w.writeLine("  op: number,");
  w.writeLine("  a: readonly bigint[],");
  w.writeLine("): HandlerResult {");
  w.writeLine("  try {");
  w.writeLine("    switch (op) {");
  for (const hc of model.hypercalls) w.writeLine(`      case ${hc.number}: return ${fn(hc)}(h, ctx, a);`);
  w.writeLine("      default: return -L.ENOSYS;");
  w.writeLine("    }");
  w.writeLine("  } catch (e) {");
  w.writeLine("    return failure(e, hypercallName(op, Number(a[0] ?? 0n)));");
  w.writeLine("  }");
  w.writeLine("}");

  for (const hc of model.hypercalls) writeHypercall(w, hc);

  w.blankLine();
  w.writeLine("const NAMES: Record<number, [string, Record<number, string>]> = {");
  for (const hc of model.hypercalls) {
    const subs = hc.subops.map((s) => `${s.number}: "${s.name}"`).join(", ");
    w.writeLine(`  ${hc.number}: ["${hc.name}", { ${subs} }],`);
  }
  w.writeLine("};");
  w.writeLine('/** "event_channel_op.send" for (32, 4): names for traces and logs. */');
  w.writeLine("export function hypercallName(op: number, subop?: number): string {");
  w.writeLine("  const e = NAMES[op];");
  w.writeLine("  if (!e) return `hypercall_${op}`;");
  w.writeLine("  if (Object.keys(e[1]).length === 0 || subop === undefined) return e[0];");
  w.writeLine("  return `${e[0]}.${e[1][subop] ?? subop}`;");
  w.writeLine("}");
  return w.toString();
}

const fn = (hc: HypercallModel) => `do_${hc.name}`;

/** Emits `const name = ...` for each value register, returning -EINVAL when out of its type's range. */
function valueRegs(w: CodeBlockWriter, hc: HypercallModel): string[] {
  const names: string[] = [];
  hc.args.forEach((a, i) => {
    if (a.kind !== "value") return;
    const t = a.type!;
    const raw = `a[${i}] ?? 0n`;
    if (t === "u64") (w.writeLine(`  const ${a.name} = ${raw};`), names.push(a.name));
    else if (t === "i64") (w.writeLine(`  const ${a.name} = BigInt.asIntN(64, ${raw});`), names.push(a.name));
    else if (SIGNED[t]) {
      const [lo, hi] = SIGNED[t]!;
      w.writeLine(`  const ${a.name}_ = BigInt.asIntN(64, ${raw});`);
      w.writeLine(`  if (${a.name}_ < ${lo} || ${a.name}_ > ${hi}) return -L.EINVAL;`);
      names.push(`Number(${a.name}_)`);
    } else {
      w.writeLine(`  const ${a.name}_ = ${raw};`);
      w.writeLine(`  if (${a.name}_ > ${MAX[t]}) return -L.EINVAL;`);
      names.push(`Number(${a.name}_)`);
    }
  });
  return names;
}

function argIndex(hc: HypercallModel, kind: string): number {
  return hc.args.findIndex((a) => a.kind === kind);
}

function writeHypercall(w: CodeBlockWriter, hc: HypercallModel) {
  w.blankLine();
  w.writeLine(
    `function ${fn(hc)}<C extends HypercallContext>(h: HypercallHandlers<C>, ctx: C, a: readonly bigint[]): HandlerResult {`,
  );
  if (hc.privileged) w.writeLine("  if (!ctx.privileged) return -L.EPERM;");
  const values = valueRegs(w, hc);
  if (hc.subops.length === 0) {
    w.writeLine(`  return settle(h.${hc.tsName}(${["ctx", ...values].join(", ")}), "${hc.name}");`);
    w.writeLine("}");
    return;
  }
  if (hc.envelope) return writeEnvelope(w, hc, values);
  const ptrIdx = Math.max(argIndex(hc, "struct"), argIndex(hc, "structArray"), argIndex(hc, "buffer"));
  const countIdx = argIndex(hc, "count");
  if (ptrIdx >= 0) w.writeLine(`  const ptr = a[${ptrIdx}] ?? 0n;`);
  if (countIdx >= 0) w.writeLine(`  const count = a[${countIdx}] ?? 0n;`);
  w.writeLine(`  switch (a[${argIndex(hc, "subop")}]) {`);
  for (const s of hc.subops) {
    w.writeLine(`    case ${s.number}n: {`);
    writeSubop(w, hc, s, values);
    w.writeLine("    }");
  }
  w.writeLine("    default: return -L.ENOSYS;");
  w.writeLine("  }");
  w.writeLine("}");
}

function writeSubop(w: CodeBlockWriter, hc: HypercallModel, s: SubopModel, values: string[]) {
  const call = `${hc.name}.${s.name}`;
  const handler = `h.${hc.tsName}.${s.method}`;
  const ind = "      ";
  if (s.privileged) w.writeLine(`${ind}if (!ctx.privileged) return -L.EPERM;`);
  const isArray = hc.args.some((x) => x.kind === "structArray");
  if (isArray && s.arg.kind === "struct") {
    const T = `L.${s.arg.struct.tsName}`;
    w.writeLine(`${ind}if (count > BigInt(MAX_ARRAY)) return -L.EINVAL;`);
    w.writeLine(`${ind}for (let i = 0; i < Number(count); i++) {`);
    w.writeLine(`${ind}  const at = ptr + BigInt(i * ${T}.size);`);
    w.writeLine(`${ind}  const op = copyIn(ctx, at, ${T});`);
    w.writeLine(`${ind}  const r = ${handler}(${["ctx", ...values, "op", "i"].join(", ")});`);
    w.writeLine(`${ind}  if (r < 0) return r;`);
    if (s.arg.struct.hasOut) w.writeLine(`${ind}  copyBack(ctx, at, ${T}, op);`);
    w.writeLine(`${ind}}`);
    w.writeLine(`${ind}return 0;`);
    return;
  }
  if (s.arg.kind === "struct") {
    const T = `L.${s.arg.struct.tsName}`;
    w.writeLine(`${ind}const arg = copyIn(ctx, ptr, ${T});`);
    const back = s.arg.struct.hasOut ? `, () => copyBack(ctx, ptr, ${T}, arg)` : "";
    w.writeLine(
      `${ind}return settle(${handler}(${["ctx", ...values, "arg"].join(", ")}), "${call}"${back});`,
    );
    return;
  }
  if (s.arg.kind === "scalar") {
    const size = SCALAR_SIZE[s.arg.type];
    const get = size === 8 ? "getBigUint64(0, true)" : GETTER[size]!;
    const signed = s.arg.type.startsWith("i") && size < 8;
    w.writeLine(
      `${ind}const value = ctx.copyFromGuest(ptr, ${size}).${signed ? get.replace("Uint", "Int") : get};`,
    );
    w.writeLine(`${ind}return settle(${handler}(${["ctx", ...values, "value"].join(", ")}), "${call}");`);
    return;
  }
  if (s.buffer === "in") {
    w.writeLine(`${ind}if (count > BigInt(MAX_BUFFER)) return -L.EINVAL;`);
    w.writeLine(`${ind}const v = ctx.copyFromGuest(ptr, Number(count));`);
    w.writeLine(`${ind}const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);`);
    w.writeLine(`${ind}return settle(${handler}(${["ctx", ...values, "bytes"].join(", ")}), "${call}");`);
    return;
  }
  if (s.buffer === "out") {
    w.writeLine(`${ind}if (count > BigInt(MAX_BUFFER)) return -L.EINVAL;`);
    w.writeLine(`${ind}const r = ${handler}(${["ctx", ...values, "Number(count)"].join(", ")});`);
    w.writeLine(`${ind}if (!(r instanceof Uint8Array)) return settle(r, "${call}");`);
    w.writeLine(`${ind}const out = r.subarray(0, Number(count));`);
    w.writeLine(`${ind}ctx.copyToGuest(ptr, out);`);
    w.writeLine(`${ind}return out.length;`);
    return;
  }
  w.writeLine(`${ind}return settle(${handler}(${["ctx", ...values].join(", ")}), "${call}");`);
}

function writeEnvelope(w: CodeBlockWriter, hc: HypercallModel, values: string[]) {
  const e = hc.envelope!;
  const H = `L.${e.headerLayout.tsName}`;
  w.writeLine(`  const ptr = a[0] ?? 0n;`);
  w.writeLine(`  const hdr = copyIn(ctx, ptr, ${H});`);
  w.writeLine(`  if (hdr.${e.versionField} !== ${e.version}) return -L.EACCES;`);
  w.writeLine(`  const payload = ptr + ${e.payloadOffset}n;`);
  const target = e.targetField ? [`hdr.${e.targetField}`] : [];
  w.writeLine(`  switch (hdr.${e.cmdField}) {`);
  for (const s of hc.subops) {
    const call = `${hc.name}.${s.name}`;
    const handler = `h.${hc.tsName}.${s.method}`;
    w.writeLine(`    case ${s.number}: {`);
    if (s.privileged) w.writeLine("      if (!ctx.privileged) return -L.EPERM;");
    if (s.arg.kind === "struct") {
      const T = `L.${s.arg.struct.tsName}`;
      w.writeLine(`      const arg = copyIn(ctx, payload, ${T});`);
      const back = s.arg.struct.hasOut ? `, () => copyBack(ctx, payload, ${T}, arg)` : "";
      w.writeLine(
        `      return settle(${handler}(${["ctx", ...values, ...target, "arg"].join(", ")}), "${call}"${back});`,
      );
    } else {
      w.writeLine(`      return settle(${handler}(${["ctx", ...values, ...target].join(", ")}), "${call}");`);
    }
    w.writeLine("    }");
  }
  w.writeLine("    default: return -L.ENOSYS;");
  w.writeLine("  }");
  w.writeLine("}");
}
