/**
 * generateReference: docs/abi-reference.md, every hypercall, sub-op, struct (with offsets), constant,
 * errno and ring, generated from the same model as the code so the reference cannot drift.
 */
import type { AbiModel, StructLayout } from "../model/types.ts";
import { typeName } from "./summary.ts";

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
const anchor = (s: string) => s.toLowerCase().replace(/[^a-z0-9_]+/g, "-");

export function generateReference(model: AbiModel): string {
  const v = model.abi.version;
  const L: string[] = [];
  L.push(`# pvkit ABI reference (version ${v.major}.${v.minor})`, "");
  L.push(
    `Generated from \`abi/src/defs\`. Xen-origin definitions follow Xen's public headers at interface version ` +
      `0x${model.abi.xenInterfaceVersion.toString(16).padStart(8, "0")}; pvkit's own hypercalls take numbers from ` +
      `${model.abi.privateHypercallBase} up. Layout: x86_64 C, little-endian, natural alignment.`,
    "",
  );
  L.push("## Hypercalls", "");
  L.push("| # | name | origin | arguments | doc |", "|---|---|---|---|---|");
  for (const h of model.hypercalls)
    L.push(
      `| ${h.number} | [\`${h.name}\`](#${anchor(h.name)}) | ${h.origin} | ${h.args.map((a) => `${a.name}:${a.kind}`).join(", ")} | ${cell(h.doc)} |`,
    );
  for (const h of model.hypercalls) {
    L.push("", `### ${h.name}`, "", cell(h.doc), "");
    L.push(
      `\`${h.constName}\` = ${h.number}${h.header ? ` — \`${h.header}\`` : ""}. SDK: \`hc.${h.tsName}\`.`,
      "",
    );
    if (h.envelope)
      L.push(
        `Envelope: \`${h.envelope.header}\` with \`${h.envelope.cmdField}\` and \`${h.envelope.versionField}\` = 0x${h.envelope.version.toString(16)}; the payload starts at byte ${h.envelope.payloadOffset} (${h.envelope.size} bytes in all).`,
        "",
      );
    if (h.subops.length === 0) continue;
    L.push("| sub-op | # | argument | result | privileged | doc |", "|---|---|---|---|---|---|");
    for (const s of h.subops) {
      const arg =
        s.arg.kind === "struct"
          ? `[\`${s.arg.struct.name}\`](#${anchor(s.arg.struct.name)})`
          : s.arg.kind === "scalar"
            ? s.arg.type
            : s.buffer
              ? `bytes (${s.buffer})`
              : "—";
      L.push(
        `| \`${s.constName}\` | ${s.number} | ${arg} | ${s.result}${s.blocking ? " (blocks)" : ""} | ${s.privileged ? "yes" : ""} | ${cell(s.doc)} |`,
      );
    }
  }
  L.push("", "## Structs and unions");
  for (const s of model.structs.values()) writeStruct(L, s);
  L.push("", "## Constants");
  let group = "";
  for (const [name, c] of model.constants) {
    if (c.group !== group) {
      L.push("", `### ${c.group}`, "", "| name | value | doc |", "|---|---|---|");
      group = c.group;
    }
    L.push(`| \`${name}\` | ${c.value} | ${cell(c.doc)} |`);
  }
  L.push(
    "",
    "## Errno",
    "",
    "Hypercalls return these negated.",
    "",
    "| name | value | doc |",
    "|---|---|---|",
  );
  for (const [name, val] of model.errno)
    L.push(`| \`${name}\` | ${val} | ${cell(model.errnoDocs.get(name) ?? "")} |`);
  L.push(
    "",
    "## Shared rings",
    "",
    "| ring | request | response | entry bytes | entries |",
    "|---|---|---|---|---|",
  );
  for (const r of model.rings.values())
    L.push(`| ${r.name} | \`${r.request}\` | \`${r.response}\` | ${r.entrySize} | ${r.entries} |`);
  L.push("");
  return L.join("\n");
}

function writeStruct(L: string[], s: StructLayout) {
  L.push("", `### ${s.name}`, "");
  L.push(
    `${s.kind}, ${s.size} bytes, align ${s.align}, ${s.origin}${s.header ? ` (\`${s.header}\`)` : ""}. TS: \`${s.tsName}\`.`,
    "",
  );
  L.push(cell(s.doc), "", "| offset | size | field | type | dir | doc |", "|---|---|---|---|---|---|");
  for (const f of s.fields)
    L.push(`| ${f.offset} | ${f.size} | \`${f.name}\` | ${typeName(f.type)} | ${f.dir} | ${cell(f.doc)} |`);
}
