/**
 * generateLayout: abi/src/generated/layout.ts, shared by both sides — constants, errno, hypercall and
 * sub-op numbers, struct/union interfaces with their codecs, and ring layouts.
 */
import { CodeBlockWriter } from "ts-morph";
import type { AbiModel, StructLayout } from "../model/types.ts";
import { decodeExpr, encodeStmt, tsType, zeroExpr } from "./codec-exprs.ts";
import { docComment, literal } from "./ts-util.ts";

export function generateLayout(model: AbiModel, runtimeImport: string): string {
  const w = new CodeBlockWriter({ indentNumberOfSpaces: 2 });
  w.writeLine(
    `import { readBytes, readChars, writeBytes, writeChars, zeroBytes, type RingLayout, type StructCodec } from "${runtimeImport}";`,
  );
  w.blankLine();

  w.writeLine("// ---- Constants ----");
  let group = "";
  for (const [name, c] of model.constants) {
    if (c.group !== group) {
      w.blankLine().writeLine(`// ${c.group}`);
      group = c.group;
    }
    docComment(w, c.doc);
    w.writeLine(`export const ${name} = ${literal(c.value)};`);
  }

  w.blankLine().writeLine("// ---- Errno (Xen's values; hypercalls return them negated) ----");
  for (const [name, value] of model.errno) {
    docComment(w, model.errnoDocs.get(name) ?? "");
    w.writeLine(`export const ${name} = ${value};`);
  }
  w.writeLine("const ERRNO_NAMES: Record<number, string> = {");
  // Aliases (EWOULDBLOCK = EAGAIN) name the value after its first definition.
  const named = new Set<number>();
  for (const [name, value] of model.errno) {
    if (named.has(value)) continue;
    named.add(value);
    w.writeLine(`  ${value}: "${name}",`);
  }
  w.writeLine("};");
  docComment(w, 'The name of a (positive) Xen errno: 22 → "EINVAL"; unknown values → "E<n>".');
  w.writeLine("export function errnoName(errno: number): string {");
  w.writeLine("  return ERRNO_NAMES[errno] ?? `E${errno}`;");
  w.writeLine("}");

  w.blankLine().writeLine("// ---- Hypercall and sub-op numbers ----");
  for (const h of model.hypercalls) {
    docComment(w, h.doc);
    w.writeLine(`export const ${h.constName} = ${h.number};`);
    for (const s of h.subops) {
      docComment(w, s.doc);
      w.writeLine(`export const ${s.constName} = ${s.number};`);
    }
  }

  w.blankLine().writeLine("// ---- Structs and unions (C layout, x86_64, little-endian) ----");
  for (const s of model.structs.values()) writeStruct(w, model, s);

  w.blankLine().writeLine("// ---- Shared rings (io/ring.h layout) ----");
  for (const r of model.rings.values()) {
    const req = model.structs.get(r.request)!.tsName;
    const rsp = model.structs.get(r.response)!.tsName;
    const upper = r.name.toUpperCase();
    docComment(w, `Entries in a ${r.name} ring page (__RING_SIZE).`);
    w.writeLine(`export const ${upper}_RING_SIZE = ${r.entries};`);
    docComment(w, r.doc);
    w.writeLine(`export const ${pascal(r.name)}Ring: RingLayout<${req}, ${rsp}> = {`);
    w.writeLine(`  name: "${r.name}",`);
    w.writeLine(`  entries: ${r.entries},`);
    w.writeLine(`  entrySize: ${r.entrySize},`);
    w.writeLine(`  headerSize: ${r.headerSize},`);
    w.writeLine(
      `  entryOffset: (index: number) => ${r.headerSize} + (index & ${r.entries - 1}) * ${r.entrySize},`,
    );
    w.writeLine(`  request: ${req},`);
    w.writeLine(`  response: ${rsp},`);
    w.writeLine("};");
  }
  return w.toString();
}

const pascal = (s: string) =>
  s[0]!.toUpperCase() + s.slice(1).replace(/_(\w)/g, (_, c: string) => c.toUpperCase());

/** Does a layout leave bytes that no field covers (padding)? Then encode zeroes it first. */
function hasPadding(s: StructLayout): boolean {
  if (s.kind === "union") return true;
  let covered = 0;
  for (const f of s.fields) covered += f.size;
  return covered !== s.size;
}

function writeStruct(w: CodeBlockWriter, model: AbiModel, s: StructLayout) {
  const T = s.tsName;
  const union = s.kind === "union";
  w.blankLine();
  docComment(w, `${s.kind} ${s.name} (${s.size} bytes, align ${s.align}). ${s.doc}`);
  w.writeLine(`export interface ${T} {`);
  for (const f of s.fields) {
    docComment(w, `@${f.offset} ${f.dir === "in" ? "" : `[${f.dir}] `}${f.doc}`);
    w.writeLine(`  ${f.name}${union ? "?" : ""}: ${tsType(f.type)};`);
  }
  w.writeLine("}");
  if (!union) {
    docComment(
      w,
      `${T} as a caller fills it: like a C designated initializer, fields left out are sent as zero.`,
    );
    w.writeLine(`export type ${T}In = Partial<${T}>;`);
  }
  w.writeLine(`export const ${T}: StructCodec<${T}> = {`);
  w.writeLine(`  name: "${s.name}",`);
  w.writeLine(`  size: ${s.size},`);
  w.writeLine(`  align: ${s.align},`);
  w.writeLine(`  offsets: { ${s.fields.map((f) => `${f.name}: ${f.offset}`).join(", ")} },`);
  w.writeLine(`  decode(v: DataView, o = 0): ${T} {`);
  w.writeLine("    return {");
  for (const f of s.fields) w.writeLine(`      ${f.name}: ${decodeExpr(model, f.type, `o + ${f.offset}`)},`);
  w.writeLine("    };");
  w.writeLine("  },");
  w.writeLine(`  encode(v: DataView, o: number, x: ${T}): void {`);
  if (hasPadding(s)) w.writeLine(`    zeroBytes(v, o, ${s.size});`);
  if (union) {
    // Exactly one variant is written: the first one present in the value.
    s.fields.forEach((f, i) => {
      w.writeLine(
        `    ${i === 0 ? "if" : "else if"} (x.${f.name} !== undefined) ${encodeStmt(model, f.type, `o + ${f.offset}`, `x.${f.name}`)}`,
      );
    });
  } else {
    for (const f of s.fields)
      w.writeLine(`    ${encodeStmt(model, f.type, `o + ${f.offset}`, `x.${f.name}`)}`);
  }
  w.writeLine("  },");
  w.writeLine(`  zero(): ${T} {`);
  if (union) {
    const f = s.fields[0]!;
    w.writeLine(`    return { ${f.name}: ${zeroExpr(f.type)} };`);
  } else {
    w.writeLine(`    return { ${s.fields.map((f) => `${f.name}: ${zeroExpr(f.type)}`).join(", ")} };`);
  }
  w.writeLine("  },");
  w.writeLine("};");
}
