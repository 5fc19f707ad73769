/**
 * The ABI definition format: the types every file in abi/src/defs is written in.
 *
 * A definition is plain `as const` data with doc strings; it has no behaviour. codegen reads it,
 * validates it (duplicate numbers, unknown types, misaligned or mis-sized structs, name clashes) and
 * emits the guest SDK, the hypervisor dispatch table, the struct codecs, the C header and the docs.
 * Layout is C on x86_64: little-endian, every field at its natural alignment, a struct aligned to its
 * largest member and padded to a multiple of that alignment.
 */

/** Fixed-width integers. 64-bit ones decode to bigint; the rest to number. */
export type Scalar = "u8" | "u16" | "u32" | "u64" | "i8" | "i16" | "i32" | "i64";

/**
 * A field's type: a scalar; `ptr`, a guest address (XEN_GUEST_HANDLE on x86_64: 8 bytes, decodes to
 * bigint); a nested struct or union by name; a fixed-length array; or `chars`, a NUL-padded char[N]
 * that decodes to a string.
 */
export type FieldType =
  | Scalar
  | "ptr"
  | { readonly struct: string }
  | { readonly union: string }
  | { readonly array: FieldType; readonly length: number }
  | { readonly chars: number };

/** Who writes a field during a hypercall: the caller (`in`), the hypervisor (`out`), or both. */
export type Direction = "in" | "out" | "inout";

export interface FieldDef {
  readonly name: string;
  readonly type: FieldType;
  readonly doc: string;
  /** Default `in`. Only out/inout fields are copied back to the guest after the call. */
  readonly dir?: Direction;
}

/** Where a concept comes from: Xen (numbers and layout must match Xen's public headers) or pvkit. */
export type Origin = "xen" | "pvkit";

export interface StructDef {
  readonly kind: "struct";
  /** C name, snake_case, as in Xen's headers where the struct is Xen's. */
  readonly name: string;
  readonly origin: Origin;
  readonly doc: string;
  /** Declared sizeof(); codegen refuses a definition whose fields do not add up to it. */
  readonly size: number;
  readonly fields: readonly FieldDef[];
  /** The Xen header that defines it (for the conformance test), e.g. "xen/event_channel.h". */
  readonly header?: string;
}

/**
 * A C union: every variant starts at offset 0; size is the largest variant rounded up to the largest
 * alignment. Decoding yields every variant read from the same bytes; encoding writes the one variant
 * present in the value (the others' bytes are zero).
 */
export interface UnionDef {
  readonly kind: "union";
  readonly name: string;
  readonly origin: Origin;
  readonly doc: string;
  readonly size: number;
  readonly variants: readonly FieldDef[];
  readonly header?: string;
}

export interface ConstantDef {
  readonly name: string;
  readonly value: number | bigint;
  readonly doc: string;
}

/** A named group of constants (VIRQ_*, GTF_*, XenbusState*, ...). */
export interface ConstantGroupDef {
  readonly kind: "constants";
  readonly name: string;
  readonly origin: Origin;
  readonly doc: string;
  readonly header?: string;
  readonly values: readonly ConstantDef[];
}

/** Xen errno values (positive here; hypercalls return them negated). */
export interface ErrnoDef {
  readonly kind: "errno";
  readonly values: readonly ConstantDef[];
}

/**
 * One register argument of a hypercall (x86_64: up to 5, each 64-bit).
 * - `subop`: the sub-operation number (EVTCHNOP_*, ...).
 * - `value`: a plain integer of the given type, range-checked by the dispatcher.
 * - `struct`: a guest pointer to the sub-op's argument struct, copied in and (if it has out fields)
 *   copied back.
 * - `structArray`: a guest pointer to `count` consecutive structs (grant_table_op); each is copied in,
 *   handled and copied back in turn.
 * - `count`: the element count for `structArray`.
 * - `buffer`: a guest pointer to bytes whose length is the `count` argument (console_io).
 */
export type ArgKind = "subop" | "value" | "struct" | "structArray" | "count" | "buffer";

export interface ArgDef {
  readonly name: string;
  readonly kind: ArgKind;
  /** For `value`: its type. */
  readonly type?: Scalar;
  readonly doc: string;
}

/**
 * One way a call fails, for the reference: a Xen errno by name (it must be in the errno definition)
 * and, in a few words, when the hypervisor returns it. Documentation only: it is not part of the binary
 * interface, so the ABI summary (codegen/src/emit/summary.ts) leaves it out, and adding or rewording
 * one is never a compatibility break.
 */
export interface ErrorDef {
  readonly errno: string;
  readonly when: string;
}

/**
 * The two refusals of a call that may name a domain other than the caller (Xen looks the domain up,
 * then lets only a privileged caller act on another): `field` is how the reference names the
 * argument; `esrch` says when there is no such domain, if it is more than "`field` is not a domain".
 */
export function otherDomainErrors(field: string, esrch = `${field} is not a domain`): ErrorDef[] {
  return [
    { errno: "EPERM", when: `${field} is another domain and the caller is not dom0` },
    { errno: "ESRCH", when: esrch },
  ];
}

/**
 * A sub-operation. `arg` names the struct (or a scalar type, e.g. XENMEM_current_reservation's
 * `domid_t *`) that the pointer argument refers to; absent when the sub-op takes no pointer.
 * `result`: `status` (0 on success) or `value` (a non-negative result such as a page count).
 * `blocking`: the vCPU may wait inside the call (SCHEDOP_block/poll); the guest stub is async.
 * `buffer`: for a `buffer` argument, whether the guest supplies bytes (`in`) or receives them (`out`).
 * `privileged`: only the control domain may call it; others get -EPERM.
 * `errors`: what this sub-op's handler may return besides success, and when; `[]` says "nothing beyond
 *   what every call and its hypercall may return". The dispatcher's own refusals (-EPERM when
 *   privileged, a register out of range, ...) are added by codegen, not listed here.
 * `example`: a few lines of a guest program's `main(k)` making the call (`k.hc.<hypercall>.<sub-op>`);
 *   codegen compiles them into examples/generated/hypercall-examples.ts, so they must type-check.
 * `errors` and `example` are documentation only: they do not change the binary interface.
 */
export interface SubopDef {
  readonly name: string;
  readonly number: number;
  readonly doc: string;
  readonly arg?: string;
  readonly result?: "status" | "value";
  readonly blocking?: boolean;
  readonly buffer?: "in" | "out";
  readonly privileged?: boolean;
  readonly errors?: readonly ErrorDef[];
  readonly example?: readonly string[];
}

/**
 * Some hypercalls pass one pointer to an envelope struct whose header carries the command and an
 * interface version (domctl, sysctl). The dispatcher reads the header, refuses a wrong version with
 * -EACCES, picks the sub-op by `cmdField`, and decodes that sub-op's `arg` struct at `payloadOffset`.
 */
export interface EnvelopeDef {
  readonly header: string;
  readonly cmdField: string;
  readonly versionField: string;
  readonly version: number;
  /** A header field passed to the handler as its own parameter (e.g. `domain`), if any. */
  readonly targetField?: string;
  readonly payloadOffset: number;
  /** sizeof the whole envelope (header + union); the guest stub copies this many bytes. */
  readonly size: number;
}

export interface HypercallDef {
  readonly kind: "hypercall";
  /** snake_case as in Xen (`event_channel_op`); the SDK uses camelCase (`eventChannelOp`). */
  readonly name: string;
  readonly number: number;
  readonly origin: Origin;
  readonly doc: string;
  readonly header?: string;
  readonly args: readonly ArgDef[];
  /** C prefix of the sub-op constants (`EVTCHNOP_`): `EVTCHNOP_alloc_unbound` = 6. */
  readonly subopPrefix?: string;
  /** For hypercalls without sub-ops (set_timer_op): the result kind. */
  readonly result?: "status" | "value";
  readonly privileged?: boolean;
  /**
   * Documentation only (see SubopDef). With sub-ops: errors every one of them may return (a bad
   * `dom` in the envelope header, ...). Without: the hypercall's own errors and example.
   */
  readonly errors?: readonly ErrorDef[];
  readonly example?: readonly string[];
  readonly subops?: readonly SubopDef[];
  readonly envelope?: EnvelopeDef;
}

/**
 * A shared ring in the io/ring.h style: a page whose 64-byte header (req_prod, req_event, rsp_prod,
 * rsp_event, padding) is followed by entries that are a union of request and response. The entry
 * count is the largest power of two that fits: __RING_SIZE.
 */
export interface RingDef {
  readonly kind: "ring";
  readonly name: string;
  readonly origin: Origin;
  readonly doc: string;
  readonly request: string;
  readonly response: string;
  readonly pageSize: number;
  /** Declared entry count; codegen checks it against the rule. */
  readonly entries: number;
}

export type Definition = StructDef | UnionDef | ConstantGroupDef | ErrnoDef | HypercallDef | RingDef;

/** The whole ABI: its version and every definition. */
export interface AbiDef {
  /** Bumped (major) for any breaking change; the committed summary must match. */
  readonly version: { readonly major: number; readonly minor: number };
  /** Xen's __XEN_INTERFACE_VERSION__ the Xen-origin definitions follow. */
  readonly xenInterfaceVersion: number;
  /** First hypercall number of pvkit's private range (documented in docs/abi.md). */
  readonly privateHypercallBase: number;
  readonly definitions: readonly Definition[];
}

// Helpers that keep literal types and let the editor check each definition's shape.
export const struct = <const T extends Omit<StructDef, "kind">>(d: T) => ({ kind: "struct" as const, ...d });
export const union = <const T extends Omit<UnionDef, "kind">>(d: T) => ({ kind: "union" as const, ...d });
export const constants = <const T extends Omit<ConstantGroupDef, "kind">>(d: T) => ({
  kind: "constants" as const,
  ...d,
});
export const hypercall = <const T extends Omit<HypercallDef, "kind">>(d: T) => ({
  kind: "hypercall" as const,
  ...d,
});
export const ring = <const T extends Omit<RingDef, "kind">>(d: T) => ({ kind: "ring" as const, ...d });
export const errno = <const T extends Omit<ErrnoDef, "kind">>(d: T) => ({ kind: "errno" as const, ...d });
