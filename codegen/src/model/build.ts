/**
 * buildModel: the validating pass. It turns the raw `as const` definitions into an AbiModel or throws
 * one AbiDefinitionError naming the first bad definition and what is wrong with it. Rules checked:
 * unique names (C and TS), unique numbers, known types, declared sizes, the private number range,
 * ring sizes by io/ring.h's rule and envelope headers.
 */
import type {
  AbiDef,
  Definition,
  ErrorDef,
  HypercallDef,
  RingDef,
  StructDef,
  SubopDef,
  UnionDef,
} from "@pvkit/abi";
import { Layouts, isScalar } from "./layout.ts";
import { camelCase } from "./names.ts";
import {
  AbiDefinitionError,
  type AbiModel,
  type ConstantModel,
  type ErrorModel,
  type HypercallModel,
  type RingModel,
  type StructLayout,
  type SubopArg,
  type SubopModel,
} from "./types.ts";

const C_IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const RING_HEADER = 64;

/** __RING_SIZE from io/ring.h: the largest power of two that fits after the 64-byte header. */
export function ringEntries(pageSize: number, entrySize: number): number {
  let n = Math.floor((pageSize - RING_HEADER) / entrySize);
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return n < 1 ? 0 : p;
}

/** Tracks every generated name so that two definitions can never emit the same identifier. */
class Names {
  private readonly owners = new Map<string, string>();
  claim(name: string, owner: string, space: string) {
    const key = `${space}:${name}`;
    const prev = this.owners.get(key);
    if (prev !== undefined)
      throw new AbiDefinitionError(owner, `name clash: "${name}" is already used by ${prev}`);
    this.owners.set(key, owner);
  }
}

export function buildModel(abi: AbiDef): AbiModel {
  const names = new Names();
  const structDefs = new Map<string, StructDef | UnionDef>();
  for (const d of abi.definitions) {
    if (d.kind !== "struct" && d.kind !== "union") continue;
    if (!C_IDENT.test(d.name)) throw new AbiDefinitionError(d.name, "not a C identifier");
    names.claim(d.name, `${d.kind} ${d.name}`, "c-type");
    structDefs.set(d.name, d);
  }

  const layouts = new Layouts(structDefs);
  const structs = new Map<string, StructLayout>();
  for (const name of structDefs.keys()) {
    const l = layouts.get(name, name);
    names.claim(l.tsName, `${l.kind} ${name}`, "ts");
    structs.set(name, l);
  }

  const constants = new Map<string, ConstantModel>();
  const errno = new Map<string, number>();
  const errnoDocs = new Map<string, string>();
  const hypercalls: HypercallModel[] = [];
  const rings = new Map<string, RingModel>();
  const claimConst = (name: string, owner: string) => {
    if (!C_IDENT.test(name)) throw new AbiDefinitionError(owner, `"${name}" is not a C identifier`);
    names.claim(name, owner, "const");
  };

  // Errno first: hypercalls name errnos in their documented errors, wherever errno is defined.
  for (const d of abi.definitions) {
    if (d.kind !== "errno") continue;
    for (const e of d.values) {
      claimConst(e.name, `errno ${e.name}`);
      if (typeof e.value !== "number" || e.value <= 0)
        throw new AbiDefinitionError(`errno ${e.name}`, "must be a positive number");
      errno.set(e.name, e.value);
      errnoDocs.set(e.name, e.doc);
    }
  }

  for (const d of abi.definitions) {
    switch (d.kind) {
      case "constants":
        for (const c of d.values) {
          claimConst(c.name, `constant ${c.name} (group ${d.name})`);
          const m: ConstantModel = { value: c.value, group: d.name, origin: d.origin, doc: c.doc };
          if (d.header !== undefined) m.header = d.header;
          constants.set(c.name, m);
        }
        break;
      case "errno":
        break;
      case "hypercall":
        hypercalls.push(buildHypercall(abi, d, structs, names, claimConst, errno));
        break;
      case "ring":
        rings.set(d.name, buildRing(d, structs, names));
        break;
      case "struct":
      case "union":
        break;
      default:
        throw new AbiDefinitionError(String((d as Definition).kind), "unknown definition kind");
    }
  }

  const byNumber = new Map<number, string>();
  for (const h of hypercalls) {
    const prev = byNumber.get(h.number);
    if (prev)
      throw new AbiDefinitionError(`hypercall ${h.name}`, `duplicate number ${h.number} (also ${prev})`);
    byNumber.set(h.number, h.name);
  }
  for (const name of ["EINVAL", "EFAULT", "ENOSYS", "EPERM", "EACCES"]) {
    if (hypercalls.length > 0 && !errno.has(name))
      throw new AbiDefinitionError("errno", `${name} is required by the dispatcher but not defined`);
  }
  return { abi, structs, constants, errno, errnoDocs, hypercalls, rings };
}

function buildRing(d: RingDef, structs: Map<string, StructLayout>, names: Names): RingModel {
  const where = `ring ${d.name}`;
  names.claim(d.name, where, "ring");
  const req = structs.get(d.request);
  const rsp = structs.get(d.response);
  if (!req) throw new AbiDefinitionError(where, `unknown request struct "${d.request}"`);
  if (!rsp) throw new AbiDefinitionError(where, `unknown response struct "${d.response}"`);
  // The slot is a C union of request and response: its size rounds to the larger alignment.
  const align = Math.max(req.align, rsp.align);
  const entrySize = Math.ceil(Math.max(req.size, rsp.size) / align) * align;
  const entries = ringEntries(d.pageSize, entrySize);
  if (entries !== d.entries)
    throw new AbiDefinitionError(
      where,
      `declares ${d.entries} entries but a ${d.pageSize}-byte page holds ${entries} of ${entrySize} bytes`,
    );
  return {
    name: d.name,
    origin: d.origin,
    doc: d.doc,
    entries,
    entrySize,
    headerSize: 64,
    pageSize: d.pageSize,
    request: d.request,
    response: d.response,
  };
}

function buildHypercall(
  abi: AbiDef,
  d: HypercallDef,
  structs: Map<string, StructLayout>,
  names: Names,
  claimConst: (name: string, owner: string) => void,
  errno: Map<string, number>,
): HypercallModel {
  const where = `hypercall ${d.name}`;
  if (!C_IDENT.test(d.name)) throw new AbiDefinitionError(where, "not a C identifier");
  if (!Number.isInteger(d.number) || d.number < 0) throw new AbiDefinitionError(where, "number must be >= 0");
  const priv = abi.privateHypercallBase;
  if (d.origin === "pvkit" && d.number < priv)
    throw new AbiDefinitionError(
      where,
      `pvkit hypercalls take numbers from the private range (>= ${priv}), not ${d.number}`,
    );
  if (d.origin === "xen" && d.number >= priv)
    throw new AbiDefinitionError(
      where,
      `number ${d.number} is in pvkit's private range (>= ${priv}); Xen's are below`,
    );
  const tsName = camelCase(d.name);
  names.claim(tsName, where, "hypercall");
  const constName = `__HYPERVISOR_${d.name}`;
  claimConst(constName, where);

  if (d.args.length > 5)
    throw new AbiDefinitionError(where, `has ${d.args.length} arguments; x86_64 passes at most 5`);
  const kinds = d.args.map((a) => a.kind);
  const count = (k: string) => kinds.filter((x) => x === k).length;
  for (const k of ["subop", "struct", "structArray", "count", "buffer"]) {
    if (count(k) > 1) throw new AbiDefinitionError(where, `more than one "${k}" argument`);
  }
  for (const a of d.args) {
    if (a.kind === "value" && !isScalar(a.type))
      throw new AbiDefinitionError(
        `${where} arg ${a.name}`,
        `a value argument needs a scalar type, got "${String(a.type)}"`,
      );
  }
  const hasSubops = (d.subops?.length ?? 0) > 0;
  if (hasSubops !== (count("subop") === 1) && !d.envelope)
    throw new AbiDefinitionError(where, "sub-ops and a `subop` argument go together");
  if ((count("structArray") === 1) !== (count("count") === 1 && count("buffer") === 0))
    throw new AbiDefinitionError(where, "a `structArray` argument needs exactly one `count` argument");
  if (count("buffer") === 1 && count("count") !== 1)
    throw new AbiDefinitionError(where, "a `buffer` argument needs a `count` argument for its length");
  if (hasSubops && !d.subopPrefix) throw new AbiDefinitionError(where, "sub-ops need a subopPrefix");

  let envelope: HypercallModel["envelope"];
  if (d.envelope) {
    const e = d.envelope;
    const headerLayout = structs.get(e.header);
    if (!headerLayout) throw new AbiDefinitionError(where, `unknown envelope header "${e.header}"`);
    for (const f of [e.cmdField, e.versionField, ...(e.targetField ? [e.targetField] : [])]) {
      if (!headerLayout.fields.some((x) => x.name === f))
        throw new AbiDefinitionError(where, `envelope field "${f}" is not in ${e.header}`);
    }
    if (e.payloadOffset < headerLayout.size)
      throw new AbiDefinitionError(
        where,
        `envelope payload at ${e.payloadOffset} overlaps its ${headerLayout.size}-byte header`,
      );
    if (d.args.length !== 1 || d.args[0]!.kind !== "struct")
      throw new AbiDefinitionError(where, "an envelope hypercall takes exactly one `struct` argument");
    envelope = { ...e, headerLayout };
  }

  const subops: SubopModel[] = [];
  const seenNum = new Map<number, string>();
  for (const s of d.subops ?? []) {
    const sw = `${where} sub-op ${s.name}`;
    if (!C_IDENT.test(s.name)) throw new AbiDefinitionError(sw, "not a C identifier");
    const prev = seenNum.get(s.number);
    if (prev !== undefined)
      throw new AbiDefinitionError(sw, `duplicate sub-op number ${s.number} (also ${prev})`);
    seenNum.set(s.number, s.name);
    const method = camelCase(s.name);
    names.claim(method, sw, `subop:${d.name}`);
    const constName = `${d.subopPrefix}${s.name}`;
    claimConst(constName, sw);
    const m = buildSubop(s, sw, method, constName, d, structs, envelope !== undefined);
    addDocs(m, s, sw, errno);
    subops.push(m);
  }
  if (envelope) {
    for (const s of subops) {
      if (s.arg.kind === "struct" && envelope.payloadOffset + s.arg.struct.size > envelope.size)
        throw new AbiDefinitionError(
          `${where} sub-op ${s.name}`,
          `payload ${s.arg.struct.name} (${s.arg.struct.size} bytes) does not fit the ${envelope.size}-byte envelope`,
        );
    }
  }

  const m: HypercallModel = {
    name: d.name,
    tsName,
    constName,
    number: d.number,
    origin: d.origin,
    doc: d.doc,
    args: d.args,
    result: d.result ?? "status",
    privileged: d.privileged ?? false,
    subops,
  };
  if (d.header !== undefined) m.header = d.header;
  if (d.subopPrefix !== undefined) m.subopPrefix = d.subopPrefix;
  if (envelope) m.envelope = envelope;
  addDocs(m, d, where, errno);
  if (m.example && subops.length > 0)
    throw new AbiDefinitionError(where, "an example belongs to each sub-op, not to a hypercall with sub-ops");
  return m;
}

/**
 * Copies a definition's documentation-only fields (errors, example) onto its model, checking that
 * each errno is one the ABI defines and that nothing is left empty.
 */
function addDocs(
  m: { errors?: ErrorModel[]; example?: string[] },
  d: { errors?: readonly ErrorDef[]; example?: readonly string[] },
  where: string,
  errno: Map<string, number>,
) {
  if (d.errors) {
    m.errors = d.errors.map((e) => {
      const value = errno.get(e.errno);
      if (value === undefined) throw new AbiDefinitionError(where, `documents unknown errno "${e.errno}"`);
      if (e.when.trim() === "") throw new AbiDefinitionError(where, `says nothing about when ${e.errno}`);
      return { errno: e.errno, value, when: e.when };
    });
  }
  if (d.example) {
    if (d.example.length === 0 || d.example.every((l) => l.trim() === ""))
      throw new AbiDefinitionError(where, "has an empty example");
    m.example = [...d.example];
  }
}

function buildSubop(
  s: SubopDef,
  where: string,
  method: string,
  constName: string,
  d: HypercallDef,
  structs: Map<string, StructLayout>,
  isEnvelope: boolean,
): SubopModel {
  let arg: SubopArg = { kind: "none" };
  if (s.arg !== undefined) {
    if (isScalar(s.arg)) arg = { kind: "scalar", type: s.arg };
    else {
      const st = structs.get(s.arg);
      if (!st) throw new AbiDefinitionError(where, `unknown argument type "${s.arg}"`);
      arg = { kind: "struct", struct: st };
    }
  }
  const kinds = d.args.map((a) => a.kind);
  if (kinds.includes("structArray") && arg.kind !== "struct")
    throw new AbiDefinitionError(where, "sub-ops of a structArray hypercall need a struct argument");
  if (kinds.includes("buffer") && s.buffer === undefined)
    throw new AbiDefinitionError(where, "sub-ops of a buffer hypercall must say buffer: in or out");
  if (!kinds.includes("buffer") && s.buffer !== undefined)
    throw new AbiDefinitionError(where, "`buffer` is set but the hypercall has no buffer argument");
  if (isEnvelope && arg.kind === "scalar")
    throw new AbiDefinitionError(where, "an envelope payload must be a struct");
  if (!isEnvelope && arg.kind !== "none" && !kinds.includes("struct") && !kinds.includes("structArray"))
    throw new AbiDefinitionError(where, "has an argument but the hypercall has no pointer argument");
  const m: SubopModel = {
    name: s.name,
    method,
    constName,
    number: s.number,
    doc: s.doc,
    arg,
    result: s.result ?? "status",
    blocking: s.blocking ?? false,
    privileged: s.privileged ?? false,
  };
  if (s.buffer !== undefined) m.buffer = s.buffer;
  return m;
}
