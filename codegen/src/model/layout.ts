/**
 * C layout on x86_64: every field at its natural alignment, a struct aligned to its largest member and
 * padded to a multiple of it; a union is as large as its largest variant, rounded the same way. This is
 * the one place pvkit computes offsets: codecs, the C header and the conformance test all use it.
 */
import type { FieldDef, FieldType, Scalar, StructDef, UnionDef } from "@pvkit/abi";
import { pascalCase } from "./names.ts";
import { AbiDefinitionError, type FieldLayout, type StructLayout } from "./types.ts";

export const SCALAR_SIZE: Record<Scalar, number> = {
  u8: 1,
  i8: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  u64: 8,
  i64: 8,
};

export function isScalar(t: unknown): t is Scalar {
  return typeof t === "string" && t in SCALAR_SIZE;
}

const roundUp = (n: number, a: number) => Math.ceil(n / a) * a;

/** Lays out every struct and union, resolving references in any order and refusing cycles. */
export class Layouts {
  readonly done = new Map<string, StructLayout>();
  private readonly inProgress = new Set<string>();

  constructor(private readonly defs: Map<string, StructDef | UnionDef>) {}

  get(name: string, from: string): StructLayout {
    const ready = this.done.get(name);
    if (ready) return ready;
    const def = this.defs.get(name);
    if (!def) throw new AbiDefinitionError(from, `unknown struct or union "${name}"`);
    if (this.inProgress.has(name)) throw new AbiDefinitionError(name, "contains itself");
    this.inProgress.add(name);
    const layout = def.kind === "struct" ? this.layStruct(def) : this.layUnion(def);
    this.inProgress.delete(name);
    this.done.set(name, layout);
    return layout;
  }

  /** Size and alignment of a field type. */
  sizeOf(t: FieldType, from: string): { size: number; align: number } {
    if (t === "ptr") return { size: 8, align: 8 };
    if (typeof t === "string") {
      if (!isScalar(t)) throw new AbiDefinitionError(from, `unknown type "${String(t)}"`);
      return { size: SCALAR_SIZE[t], align: SCALAR_SIZE[t] };
    }
    if ("struct" in t) return this.get(t.struct, from);
    if ("union" in t) {
      const u = this.get(t.union, from);
      if (u.kind !== "union") throw new AbiDefinitionError(from, `"${t.union}" is a struct, not a union`);
      return u;
    }
    if ("chars" in t) {
      if (!Number.isInteger(t.chars) || t.chars <= 0)
        throw new AbiDefinitionError(from, `chars length must be a positive integer`);
      return { size: t.chars, align: 1 };
    }
    if ("array" in t) {
      if (!Number.isInteger(t.length) || t.length <= 0)
        throw new AbiDefinitionError(from, `array length must be a positive integer`);
      const e = this.sizeOf(t.array, from);
      return { size: e.size * t.length, align: e.align };
    }
    throw new AbiDefinitionError(from, `unknown type ${JSON.stringify(t)}`);
  }

  private fields(owner: string, defs: readonly FieldDef[], union: boolean) {
    const seen = new Set<string>();
    let offset = 0;
    let align = 1;
    let size = 0;
    const fields: FieldLayout[] = [];
    for (const f of defs) {
      const where = `${owner}.${f.name}`;
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(f.name)) throw new AbiDefinitionError(where, "not a C identifier");
      if (seen.has(f.name)) throw new AbiDefinitionError(where, "duplicate field name");
      seen.add(f.name);
      const t = this.sizeOf(f.type, where);
      const at = union ? 0 : roundUp(offset, t.align);
      fields.push({
        name: f.name,
        offset: at,
        size: t.size,
        align: t.align,
        type: f.type,
        dir: f.dir ?? "in",
        doc: f.doc,
      });
      offset = at + t.size;
      size = Math.max(size, offset);
      align = Math.max(align, t.align);
    }
    return { fields, size: roundUp(size, align), align };
  }

  private finish(def: StructDef | UnionDef, kind: "struct" | "union", fieldDefs: readonly FieldDef[]) {
    if (fieldDefs.length === 0) throw new AbiDefinitionError(def.name, `a ${kind} needs at least one field`);
    const { fields, size, align } = this.fields(def.name, fieldDefs, kind === "union");
    if (size !== def.size) {
      const table = fields.map((f) => `${f.name}@${f.offset}+${f.size}`).join(", ");
      throw new AbiDefinitionError(
        def.name,
        `declared size ${def.size} but its fields lay out to ${size} bytes (align ${align}): ${table}`,
      );
    }
    const hasOut = fields.some((f) => f.dir !== "in");
    const layout: StructLayout = {
      kind,
      name: def.name,
      tsName: pascalCase(def.name),
      origin: def.origin,
      size,
      align,
      fields,
      doc: def.doc,
      hasOut,
    };
    if (def.header !== undefined) layout.header = def.header;
    return layout;
  }

  private layStruct(def: StructDef) {
    return this.finish(def, "struct", def.fields);
  }

  private layUnion(def: UnionDef) {
    return this.finish(def, "union", def.variants);
  }
}
