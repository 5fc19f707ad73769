/**
 * What a call can fail with, as the reference documents it and the errno test checks it. Three
 * sources, merged into one list per sub-op (or plain hypercall):
 *
 *   1. the sub-op's own `errors` from its definition (what its handler returns);
 *   2. its hypercall's `errors` (what every sub-op of it may return);
 *   3. the generated dispatcher's own refusals, derived here from the same model the dispatcher is
 *      generated from (privilege, envelope version, register ranges, array and buffer limits), so the
 *      reference cannot drift from dispatch.ts.
 *
 * COMMON_ERRORS is what any call at all may return; the reference says it once, at the top.
 */
import type { Scalar } from "@pvkit/abi";
import type { AbiModel, HypercallModel, SubopModel } from "./types.ts";

/** Most structs one array hypercall may carry (Xen batches grant ops in similar chunks). */
export const MAX_ARRAY = 512;
/** Most bytes one buffer argument may carry. */
export const MAX_BUFFER = 1 << 20;

/** A documented errno with every reason it is returned (one row of the reference's table). */
export interface ErrorRow {
  errno: string;
  value: number;
  when: string[];
}

/** Returned by any hypercall: the dispatcher turns every guest-memory fault into it. */
export const COMMON_ERRORS: readonly { errno: string; when: string }[] = [
  {
    errno: "EFAULT",
    when:
      "an argument pointer, or a guest address inside an argument (a list of ports or frames, a " +
      "buffer, a string), is not in the caller's populated memory",
  },
];

/** Returned for a hypercall or sub-op number the ABI does not define (never for a documented one). */
export const UNKNOWN_OP_ERROR = {
  errno: "ENOSYS",
  when: "the hypercall or sub-op number is not one the ABI defines",
};

const RANGE: Partial<Record<Scalar, string>> = {
  u8: "a u8",
  u16: "a u16",
  u32: "a u32",
  i8: "an i8",
  i16: "an i16",
  i32: "an i32",
};

/** The dispatcher's refusals before the handler runs (mirrors emit/dispatch-ts.ts). */
export function dispatcherErrors(
  h: HypercallModel,
  s: SubopModel | undefined,
): { errno: string; when: string }[] {
  const out: { errno: string; when: string }[] = [];
  if (h.privileged || s?.privileged)
    out.push({ errno: "EPERM", when: "the caller is not the control domain (dom0)" });
  if (h.envelope)
    out.push({
      errno: "EACCES",
      when: `\`${h.envelope.versionField}\` in the header is not 0x${h.envelope.version.toString(16)} (the SDK sets it)`,
    });
  for (const a of h.args) {
    if (a.kind === "value" && a.type && RANGE[a.type])
      out.push({ errno: "EINVAL", when: `\`${a.name}\` does not fit ${RANGE[a.type]}` });
  }
  if (h.args.some((a) => a.kind === "structArray"))
    out.push({ errno: "EINVAL", when: `more than ${MAX_ARRAY} ops in one call` });
  if (h.args.some((a) => a.kind === "buffer"))
    out.push({ errno: "EINVAL", when: `more than ${MAX_BUFFER} bytes (1 MiB) in one call` });
  return out;
}

/**
 * Every errno a sub-op (or, with `s` undefined, a plain hypercall) is documented to return, beyond
 * COMMON_ERRORS: its own first, then its hypercall's, then the dispatcher's, one row per errno.
 * `documented` is false when the definition says nothing about the call's own errors.
 */
export function documentedErrors(
  model: AbiModel,
  h: HypercallModel,
  s: SubopModel | undefined,
): { documented: boolean; rows: ErrorRow[] } {
  const own = s ? s.errors : h.errors;
  const shared = s ? (h.errors ?? []) : [];
  const rows = new Map<string, ErrorRow>();
  const add = (e: { errno: string; when: string }) => {
    const row = rows.get(e.errno);
    if (row) {
      if (!row.when.includes(e.when)) row.when.push(e.when);
    } else rows.set(e.errno, { errno: e.errno, value: model.errno.get(e.errno) ?? 0, when: [e.when] });
  };
  for (const e of [...(own ?? []), ...shared, ...dispatcherErrors(h, s)]) add(e);
  return { documented: own !== undefined, rows: [...rows.values()] };
}
