/**
 * The ABI summary: one line per stable fact, sorted. It is committed (abi/abi.summary) and compared on
 * every run, so that a removal, a renumbering or a layout change is seen as a break (see abi-check.ts).
 * Only binary facts go in: numbers, layouts, argument kinds, result kinds. Doc strings and the
 * documentation-only fields (a sub-op's `errors` and `example`) are left out on purpose: rewording
 * them, or documenting a new errno, changes no byte a guest and the hypervisor exchange, so it must
 * never count as an ABI change.
 */
import type { FieldType } from "@pvkit/abi";
import type { AbiModel } from "../model/types.ts";

export function typeName(t: FieldType): string {
  if (typeof t === "string") return t;
  if ("struct" in t) return `struct:${t.struct}`;
  if ("union" in t) return `union:${t.union}`;
  if ("chars" in t) return `chars[${t.chars}]`;
  return `${typeName(t.array)}[${t.length}]`;
}

/** The summary lines (without the version line), sorted. */
export function summaryLines(model: AbiModel): string[] {
  const out: string[] = [];
  for (const h of model.hypercalls) {
    out.push(
      `hypercall ${h.name} ${h.number} args=${h.args.map((a) => `${a.kind}${a.type ? `:${a.type}` : ""}`).join(",")}`,
    );
    if (h.envelope)
      out.push(`envelope ${h.name} ${h.envelope.header} v${h.envelope.version} @${h.envelope.payloadOffset}`);
    for (const s of h.subops) {
      const arg = s.arg.kind === "struct" ? s.arg.struct.name : s.arg.kind === "scalar" ? s.arg.type : "-";
      out.push(
        `subop ${h.name}.${s.name} ${s.number} ${arg} ${s.result}${s.buffer ? ` buffer:${s.buffer}` : ""}`,
      );
    }
  }
  for (const s of model.structs.values()) {
    out.push(`${s.kind} ${s.name} size ${s.size} align ${s.align}`);
    for (const f of s.fields) out.push(`field ${s.name}.${f.name} ${f.offset} ${typeName(f.type)} ${f.dir}`);
  }
  for (const [name, c] of model.constants) out.push(`const ${name} ${c.value}`);
  for (const [name, v] of model.errno) out.push(`errno ${name} ${v}`);
  for (const r of model.rings.values())
    out.push(`ring ${r.name} ${r.entries} ${r.entrySize} ${r.request} ${r.response}`);
  return out.sort();
}

export function renderSummary(model: AbiModel): string {
  const v = model.abi.version;
  return [`abi-version ${v.major}.${v.minor}`, ...summaryLines(model)].join("\n") + "\n";
}
