/**
 * The TypeScript spelled for each field type: its value type, and the straight-line DataView
 * expressions that decode and encode it at a byte offset. Generated codecs do no interpretation at
 * run time; every offset is a literal computed by the layout pass.
 */
import type { FieldType, Scalar } from "@pvkit/abi";
import { isScalar } from "../model/layout.ts";
import { pascalCase } from "../model/names.ts";
import type { AbiModel } from "../model/types.ts";

const GET: Record<Scalar, string> = {
  u8: "getUint8",
  i8: "getInt8",
  u16: "getUint16",
  i16: "getInt16",
  u32: "getUint32",
  i32: "getInt32",
  u64: "getBigUint64",
  i64: "getBigInt64",
};

export const is64 = (t: Scalar | "ptr") => t === "u64" || t === "i64" || t === "ptr";

/** The TS value type of a field type. */
export function tsType(t: FieldType): string {
  if (t === "ptr") return "bigint";
  if (typeof t === "string") return is64(t) ? "bigint" : "number";
  if ("struct" in t) return pascalCase(t.struct);
  if ("union" in t) return pascalCase(t.union);
  if ("chars" in t) return "string";
  if (t.array === "u8") return "Uint8Array";
  return `${tsType(t.array)}[]`;
}

/** The zero value of a field type, as an expression. */
export function zeroExpr(t: FieldType): string {
  if (t === "ptr") return "0n";
  if (typeof t === "string") return is64(t) ? "0n" : "0";
  if ("struct" in t) return `${pascalCase(t.struct)}.zero()`;
  if ("union" in t) return `${pascalCase(t.union)}.zero()`;
  if ("chars" in t) return '""';
  if (t.array === "u8") return `new Uint8Array(${t.length})`;
  return `Array.from({ length: ${t.length} }, () => ${zeroExpr(t.array)})`;
}

function scalarOf(t: FieldType): Scalar | undefined {
  if (t === "ptr") return "u64";
  return isScalar(t) ? t : undefined;
}

/** Size of one element, for arrays (uses the model's layouts for nested structs). */
function elemSize(model: Pick<AbiModel, "structs">, t: FieldType): number {
  const s = scalarOf(t);
  if (s) return { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, u64: 8, i64: 8 }[s];
  if (typeof t === "string") throw new Error(`unknown type ${t}`);
  if ("struct" in t) return model.structs.get(t.struct)!.size;
  if ("union" in t) return model.structs.get(t.union)!.size;
  if ("chars" in t) return t.chars;
  return elemSize(model, t.array) * t.length;
}

/** Expression reading type `t` at byte offset expression `at` of DataView `v`. */
export function decodeExpr(model: Pick<AbiModel, "structs">, t: FieldType, at: string): string {
  const s = scalarOf(t);
  if (s) return s === "u8" || s === "i8" ? `v.${GET[s]}(${at})` : `v.${GET[s]}(${at}, true)`;
  if (typeof t === "string") throw new Error(`unknown type ${t}`);
  if ("struct" in t || "union" in t)
    return `${pascalCase("struct" in t ? t.struct : t.union)}.decode(v, ${at})`;
  if ("chars" in t) return `readChars(v, ${at}, ${t.chars})`;
  if (t.array === "u8") return `readBytes(v, ${at}, ${t.length})`;
  const es = elemSize(model, t.array);
  // A loop in a function called in place, not Array.from with a mapping function: V8 inlines the
  // one and not the other, and a ring's requests are decoded one by one (blkif_request's eleven
  // segments: 600 ns with Array.from, 80 with the loop).
  const T = tsType(t.array);
  return (
    `((): ${T}[] => { const a: ${T}[] = []; ` +
    `for (let i = 0; i < ${t.length}; i++) a.push(${decodeExpr(model, t.array, `${at} + i * ${es}`)}); return a; })()`
  );
}

/** Statement writing value expression `val` of type `t` at offset expression `at`. */
export function encodeStmt(model: Pick<AbiModel, "structs">, t: FieldType, at: string, val: string): string {
  const s = scalarOf(t);
  if (s) {
    const set = GET[s].replace("get", "set");
    return s === "u8" || s === "i8" ? `v.${set}(${at}, ${val});` : `v.${set}(${at}, ${val}, true);`;
  }
  if (typeof t === "string") throw new Error(`unknown type ${t}`);
  if ("struct" in t || "union" in t)
    return `${pascalCase("struct" in t ? t.struct : t.union)}.encode(v, ${at}, ${val});`;
  if ("chars" in t) return `writeChars(v, ${at}, ${t.chars}, ${val});`;
  if (t.array === "u8") return `writeBytes(v, ${at}, ${t.length}, ${val});`;
  const es = elemSize(model, t.array);
  const e = t.array;
  if (typeof e !== "string" && ("struct" in e || "union" in e)) {
    // An element left out is zeroed where it lies: no zero() object made to be encoded (a blkif
    // request names one segment of eleven; a guest's typed arrays all go through its allocation gate).
    const codec = pascalCase("struct" in e ? e.struct : e.union);
    return (
      `for (let i = 0; i < ${t.length}; i++) { const e = ${val}[i]; ` +
      `if (e === undefined) zeroBytes(v, ${at} + i * ${es}, ${es}); else ${codec}.encode(v, ${at} + i * ${es}, e); }`
    );
  }
  const inner = encodeStmt(model, t.array, `${at} + i * ${es}`, `${val}[i] ?? ${zeroExpr(t.array)}`);
  return `for (let i = 0; i < ${t.length}; i++) ${inner}`;
}
