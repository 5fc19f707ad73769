/**
 * generateReference: docs/abi-reference.md, every hypercall, sub-op, struct (with offsets), constant,
 * errno and ring, generated from the same model as the code so the reference cannot drift.
 */
import { COMMON_ERRORS, UNKNOWN_OP_ERROR, documentedErrors } from "../model/errors.ts";
import type { AbiModel, HypercallModel, StructLayout, SubopModel } from "../model/types.ts";
import { tsType } from "./codec-exprs.ts";
import { stubSignature } from "./guest-ts.ts";
import { typeName } from "./summary.ts";

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
const anchor = (s: string) => s.toLowerCase().replace(/[^a-z0-9_]+/g, "-");
const errnoRef = (model: AbiModel, name: string) => `\`-${name}\` (-${model.errno.get(name) ?? "?"})`;

/** Where the examples are compiled (generate.ts writes them there). */
export const EXAMPLES_PATH = "examples/generated/hypercall-examples.ts";

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
  writeCallConventions(L, model);
  L.push("## Hypercalls", "");
  L.push("| # | name | origin | arguments | doc |", "|---|---|---|---|---|");
  for (const h of model.hypercalls)
    L.push(
      `| ${h.number} | [\`${h.name}\`](#${anchor(h.name)}) | ${h.origin} | ${h.args.map((a) => `${a.name}:${a.kind}`).join(", ")} | ${cell(h.doc)} |`,
    );
  for (const h of model.hypercalls) {
    L.push("", `### ${h.name}`, "", cell(h.doc), "");
    L.push(
      `\`${h.constName}\` = ${h.number}${h.header ? ` — \`${h.header}\`` : ""}. SDK: \`k.hc.${h.tsName}\`.`,
      "",
    );
    if (h.envelope)
      L.push(
        `Envelope: \`${h.envelope.header}\` with \`${h.envelope.cmdField}\` and \`${h.envelope.versionField}\` = 0x${h.envelope.version.toString(16)}; the payload starts at byte ${h.envelope.payloadOffset} (${h.envelope.size} bytes in all).`,
        "",
      );
    if (h.subops.length === 0) {
      writeCall(L, model, h, undefined);
      continue;
    }
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
        `| [\`${s.constName}\`](#${anchor(s.constName)}) | ${s.number} | ${arg} | ${s.result}${s.blocking ? " (blocks)" : ""} | ${s.privileged ? "yes" : ""} | ${cell(s.doc)} |`,
      );
    }
    for (const s of h.subops) {
      L.push("", `#### ${s.constName}`, "", `${cell(s.doc)} \`${s.constName}\` = ${s.number}.`);
      writeCall(L, model, h, s);
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

/** How to read a call's section: the SDK, the examples, the errors every call shares. */
function writeCallConventions(L: string[], model: AbiModel) {
  L.push("## Calling from a guest", "");
  L.push(
    "A guest program (`export default async function main(k: KernelHandle)`) makes every call below through " +
      "`k.hc`, the generated SDK (`abi/src/generated/guest.ts`). Each call's section shows the SDK method's " +
      "signature, the fields of its argument and result, an example and the errors it returns.",
    "",
    "- An argument of type `XxxIn` is `Partial<Xxx>`: fields left out are sent as 0. The result is the " +
      "struct as the hypervisor wrote it back.",
    "- A negative result throws `XenError` (from `@pvkit/abi/guest`) with `errno` (positive) and " +
      "`errnoName` (`event_channel_op.send: -EINVAL (-22)`).",
    "- Examples are the body of `main(k)`. Constants, errno values and struct types come from " +
      `\`@pvkit/abi/layout\`. Every example is compiled by \`pnpm typecheck\` (\`${EXAMPLES_PATH}\`).`,
    "- The errors listed for a call are the ones its handler and the dispatcher return, checked by " +
      "`test/hypervisor/documented-errnos.test.ts`, which calls each one with random and hostile arguments " +
      "through the real hypervisor. Besides those, any call may return:",
    "",
  );
  L.push("| errno | when |", "|---|---|");
  for (const e of COMMON_ERRORS) L.push(`| ${errnoRef(model, e.errno)} | ${cell(e.when)} |`);
  L.push(
    "",
    `A hypercall or sub-op number the ABI does not define returns ${errnoRef(model, UNKNOWN_OP_ERROR.errno)}.`,
    "",
  );
}

/** One call's signature, fields, example and errors (a sub-op, or a hypercall without sub-ops). */
function writeCall(L: string[], model: AbiModel, h: HypercallModel, s: SubopModel | undefined) {
  const path = s ? `k.hc.${h.tsName}.${s.method}` : `k.hc.${h.tsName}`;
  L.push("", "```ts", `${path}${stubSignature(h, s)}`, "```", "");
  const st = s?.arg.kind === "struct" ? s.arg.struct : undefined;
  if (st) {
    const dirs = (["in", "inout", "out"] as const)
      .map((d) => {
        const fs = st.fields.filter((f) => f.dir === d);
        return fs.length ? `${d} ${fs.map((f) => `\`${f.name}: ${tsType(f.type)}\``).join(", ")}` : "";
      })
      .filter((x) => x !== "");
    L.push(`\`${st.tsName}\` ([\`${st.name}\`](#${anchor(st.name)})): ${dirs.join("; ")}.`, "");
  }
  const example = s ? s.example : h.example;
  if (example) L.push("```ts", ...example, "```", "");
  const { documented, rows } = documentedErrors(model, h, s);
  if (!documented && rows.length === 0) {
    L.push("Errors: not documented yet.");
    return;
  }
  if (rows.length === 0) {
    L.push("Errors: none beyond [the ones any call may return](#calling-from-a-guest).");
    return;
  }
  L.push("| errno | when |", "|---|---|");
  for (const r of rows) L.push(`| ${errnoRef(model, r.errno)} | ${cell(r.when.join("; "))} |`);
  if (!documented) L.push("", "The handler's own errors are not documented yet.");
}
