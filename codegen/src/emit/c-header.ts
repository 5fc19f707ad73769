/**
 * generateCHeader: abi/include/pvkit/abi.h, the whole ABI for C guests and tools. Structs keep Xen's
 * names; every size and offset is pinned with _Static_assert so a C compiler re-checks the layout pass.
 */
import type { FieldType, Scalar } from "@pvkit/abi";
import type { AbiModel, StructLayout } from "../model/types.ts";

const C_SCALAR: Record<Scalar | "ptr", string> = {
  u8: "uint8_t",
  i8: "int8_t",
  u16: "uint16_t",
  i16: "int16_t",
  u32: "uint32_t",
  i32: "int32_t",
  u64: "uint64_t",
  i64: "int64_t",
  ptr: "uint64_t",
};

/** Declarator for a field: base type and the array suffixes. */
function declarator(t: FieldType, name: string): string {
  let suffix = "";
  let base = t;
  while (typeof base === "object" && "array" in base) {
    suffix += `[${base.length}]`;
    base = base.array;
  }
  if (typeof base === "string") return `${C_SCALAR[base]} ${name}${suffix}`;
  if ("chars" in base) return `char ${name}${suffix}[${base.chars}]`;
  if ("struct" in base) return `struct ${base.struct} ${name}${suffix}`;
  return `union ${base.union} ${name}${suffix}`;
}

function deps(t: FieldType): string[] {
  if (typeof t === "string") return [];
  if ("array" in t) return deps(t.array);
  if ("struct" in t) return [t.struct];
  if ("union" in t) return [t.union];
  return [];
}

/** Structs ordered so that each is defined before it is used by value. */
function ordered(model: AbiModel): StructLayout[] {
  const out: StructLayout[] = [];
  const seen = new Set<string>();
  const visit = (s: StructLayout) => {
    if (seen.has(s.name)) return;
    seen.add(s.name);
    for (const f of s.fields) for (const d of deps(f.type)) visit(model.structs.get(d)!);
    out.push(s);
  };
  for (const s of model.structs.values()) visit(s);
  return out;
}

function cLiteral(v: number | bigint): string {
  if (typeof v === "bigint" || v > 0x7fffffff || v < -0x80000000) {
    const b = BigInt(v);
    return b < 0n ? `(${b}LL)` : `${b}ULL`;
  }
  return v >= 0x80000000 ? `${v}U` : String(v);
}

export function generateCHeader(model: AbiModel): string {
  const L: string[] = [];
  L.push("#ifndef PVKIT_ABI_H", "#define PVKIT_ABI_H", "", "#include <stddef.h>", "#include <stdint.h>", "");
  L.push(`#define PVKIT_ABI_VERSION_MAJOR ${model.abi.version.major}`);
  L.push(`#define PVKIT_ABI_VERSION_MINOR ${model.abi.version.minor}`);
  L.push("", "/* Hypercall and sub-op numbers */");
  for (const h of model.hypercalls) {
    L.push(`#define ${h.constName} ${h.number}`);
    for (const s of h.subops) L.push(`#define ${s.constName} ${s.number}`);
  }
  L.push("", "/* Constants */");
  for (const [name, c] of model.constants) L.push(`#define ${name} ${cLiteral(c.value)}`);
  L.push("", "/* Errno (Xen's values; hypercalls return them negated) */");
  for (const [name, v] of model.errno) L.push(`#define XEN_${name} ${v}`);
  L.push("", "/* Structs and unions */");
  for (const s of ordered(model)) {
    L.push("", `/* ${s.doc.replace(/\*\//g, "* /")} */`, `${s.kind} ${s.name} {`);
    for (const f of s.fields) L.push(`    ${declarator(f.type, f.name)};`);
    L.push("};");
    L.push(`_Static_assert(sizeof(${s.kind} ${s.name}) == ${s.size}, "sizeof ${s.name}");`);
    for (const f of s.fields)
      L.push(
        `_Static_assert(offsetof(${s.kind} ${s.name}, ${f.name}) == ${f.offset}, "offsetof ${s.name}.${f.name}");`,
      );
  }
  L.push("", "/* Shared rings: entries per page (__RING_SIZE) */");
  for (const r of model.rings.values()) L.push(`#define ${r.name.toUpperCase()}_RING_SIZE ${r.entries}`);
  L.push("", "#endif /* PVKIT_ABI_H */", "");
  return L.join("\n");
}
