/**
 * The resolved model codegen works from: every definition validated, every struct laid out with C's
 * x86_64 rules, every name derived once. Generators read only this, never the raw definitions.
 */
import type { AbiDef, ArgDef, Direction, EnvelopeDef, FieldType, Origin, Scalar } from "@pvkit/abi";

export interface FieldLayout {
  name: string;
  offset: number;
  size: number;
  align: number;
  type: FieldType;
  dir: Direction;
  doc: string;
}

export interface StructLayout {
  kind: "struct" | "union";
  name: string;
  /** PascalCase name of the interface and codec in generated TS. */
  tsName: string;
  origin: Origin;
  header?: string;
  size: number;
  align: number;
  fields: FieldLayout[];
  doc: string;
  /** True when any field is out/inout: the struct is copied back after a call. */
  hasOut: boolean;
}

export interface ConstantModel {
  value: number | bigint;
  group: string;
  origin: Origin;
  header?: string;
  doc: string;
}

/** A documented failure (the definition's ErrorDef, its errno resolved to a value). Docs only. */
export interface ErrorModel {
  errno: string;
  value: number;
  when: string;
}

/** What a sub-op's pointer refers to. */
export type SubopArg =
  { kind: "none" } | { kind: "struct"; struct: StructLayout } | { kind: "scalar"; type: Scalar };

export interface SubopModel {
  name: string;
  /** camelCase method name in the SDK and handler interface. */
  method: string;
  /** C constant name (subopPrefix + name), e.g. EVTCHNOP_send. */
  constName: string;
  number: number;
  doc: string;
  arg: SubopArg;
  result: "status" | "value";
  blocking: boolean;
  buffer?: "in" | "out";
  privileged: boolean;
  /** Documented errors of its own; undefined when the definition does not document them. */
  errors?: ErrorModel[];
  /** Lines of a guest program's main(k) making the call. */
  example?: string[];
}

export interface HypercallModel {
  name: string;
  /** camelCase namespace (or function, without sub-ops) in the SDK and handler interface. */
  tsName: string;
  /** __HYPERVISOR_<name> */
  constName: string;
  number: number;
  origin: Origin;
  doc: string;
  header?: string;
  args: readonly ArgDef[];
  subopPrefix?: string;
  /** For a hypercall without sub-ops: its own result kind and privilege. */
  result: "status" | "value";
  privileged: boolean;
  /** With sub-ops: errors each may return; without: its own (undefined when not documented). */
  errors?: ErrorModel[];
  /** Without sub-ops: lines of a guest program's main(k) making the call. */
  example?: string[];
  subops: SubopModel[];
  envelope?: EnvelopeDef & { headerLayout: StructLayout };
}

export interface RingModel {
  name: string;
  origin: Origin;
  doc: string;
  entries: number;
  entrySize: number;
  headerSize: 64;
  pageSize: number;
  request: string;
  response: string;
}

export interface AbiModel {
  abi: AbiDef;
  /** Structs and unions by C name, in definition order. */
  structs: Map<string, StructLayout>;
  /** Every constant by C name, errno excluded. */
  constants: Map<string, ConstantModel>;
  /** Xen errno values by name (positive). */
  errno: Map<string, number>;
  errnoDocs: Map<string, string>;
  hypercalls: HypercallModel[];
  rings: Map<string, RingModel>;
}

/** A definition the generator refuses, with its name and what is wrong. Nothing is written. */
export class AbiDefinitionError extends Error {
  constructor(
    readonly definition: string,
    readonly problem: string,
  ) {
    super(`${definition}: ${problem}`);
    this.name = "AbiDefinitionError";
  }
}
