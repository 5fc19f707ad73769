/** Small helpers shared by the TypeScript generators. */
import type { CodeBlockWriter } from "ts-morph";

/** Writes a JSDoc comment (nothing for an empty doc). */
export function docComment(w: CodeBlockWriter, doc: string) {
  const text = doc.trim().replace(/\*\//g, "*\\/");
  if (text.length === 0) return;
  const lines = text.split("\n");
  if (lines.length === 1) w.writeLine(`/** ${text} */`);
  else {
    w.writeLine("/**");
    for (const l of lines) w.writeLine(` * ${l}`.trimEnd());
    w.writeLine(" */");
  }
}

/** A number or bigint as a TS literal (hex for large flag values stays decimal: exact and greppable). */
export function literal(v: number | bigint): string {
  return typeof v === "bigint" ? `${v}n` : String(v);
}
