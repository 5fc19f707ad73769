/**
 * Hypercalls and their sub-ops by the names Xen's headers give them, read from the ABI definitions
 * (abi/src/defs) rather than typed out again: tools that show a hypercall to a person — traces, logs —
 * say `event_channel_op/EVTCHNOP_send` or `domctl/XEN_DOMCTL_createdomain`, never `32.4`.
 *
 * The form is `<hypercall>/<sub-op constant>`: the hypercall's name as in `__HYPERVISOR_<name>` and
 * the sub-op's full C constant (its `subopPrefix` and name), so either half can be searched for in
 * Xen's headers or docs/abi-reference.md. A hypercall without sub-ops is its name alone
 * (`set_timer_op`).
 *
 * Where the sub-op number lives differs: most hypercalls pass it in a register (`cmd`, the argument
 * of kind `subop`), but domctl and sysctl pass one pointer to an envelope struct whose header holds
 * it (`cmd` of struct xen_domctl). subopSource() says which, so a caller that can read the guest's
 * memory can find the number without knowing any hypercall by heart.
 */
import { abi } from "./abi.ts";
import * as layout from "./generated/layout.ts";
import type { HypercallDef } from "./schema.ts";
import type { StructCodec } from "./runtime.ts";

/** Where a hypercall's sub-op number is found. */
export type SubopSource =
  /** No sub-ops (set_timer_op). */
  | { readonly kind: "none" }
  /** In register argument `arg` (0-based). */
  | { readonly kind: "register"; readonly arg: number }
  /**
   * In guest memory: register argument `arg` points at an envelope whose `header` struct holds the
   * number in `field`. Decode `header.size` bytes there with `header` and read `field`.
   */
  | {
      readonly kind: "envelope";
      readonly arg: number;
      readonly header: StructCodec<Record<string, unknown>>;
      readonly field: string;
    };

interface Entry {
  readonly def: HypercallDef;
  readonly subops: ReadonlyMap<number, string>;
  readonly source: SubopSource;
}

let table: Map<number, Entry> | undefined;

/** Built on first use from the definitions (no cost for code that never names a hypercall). */
function entries(): Map<number, Entry> {
  if (table) return table;
  table = new Map();
  for (const d of abi.definitions) {
    if (d.kind !== "hypercall") continue;
    const prefix = d.subopPrefix ?? "";
    const subops = new Map((d.subops ?? []).map((s) => [s.number, `${prefix}${s.name}`]));
    table.set(d.number, { def: d, subops, source: sourceOf(d) });
  }
  return table;
}

function sourceOf(d: HypercallDef): SubopSource {
  if (!d.subops || d.subops.length === 0) return { kind: "none" };
  if (d.envelope) {
    const e = d.envelope;
    const arg = d.args.findIndex((a) => a.kind === "struct");
    const header = Object.values(layout).find(
      (v): v is StructCodec<Record<string, unknown>> =>
        typeof v === "object" &&
        v !== null &&
        "offsets" in v &&
        (v as StructCodec<unknown>).name === e.header,
    );
    // codegen refuses an envelope whose header is not a struct, so this is a broken build.
    if (!header || arg < 0) throw new Error(`${d.name}: no codec for envelope header ${e.header}`);
    return { kind: "envelope", arg, header, field: e.cmdField };
  }
  return {
    kind: "register",
    arg: Math.max(
      0,
      d.args.findIndex((a) => a.kind === "subop"),
    ),
  };
}

/** Where hypercall `op` keeps its sub-op number (`none` for an unknown hypercall too). */
export function subopSource(op: number): SubopSource {
  return entries().get(op)?.source ?? { kind: "none" };
}

/**
 * The name of hypercall `op` with sub-op `subop`: `event_channel_op/EVTCHNOP_send`. A sub-op the
 * ABI does not define is `<hypercall>/unknown sub-op N`; `subop` undefined (not readable, or not
 * asked) gives the hypercall's name alone; an unknown hypercall is `unknown hypercall N`.
 */
export function hypercallOpName(op: number, subop?: number): string {
  const e = entries().get(op);
  if (!e) return `unknown hypercall ${op}`;
  if (e.source.kind === "none" || subop === undefined) return e.def.name;
  return `${e.def.name}/${e.subops.get(subop) ?? `unknown sub-op ${subop}`}`;
}

/** A hypercall's `long` result as a person reads it: 0 or a value, or a negated errno by name ("-EINVAL"). */
export function hypercallResult(result: number): number | string {
  return result < 0 ? `-${layout.errnoName(-result)}` : result;
}
