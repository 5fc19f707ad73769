/**
 * GNTTABOP_copy: the hypervisor copies bytes between two frames it holds, each named either by a
 * grant ref of another domain (GNTCOPY_*_gref) or by a frame of the caller's own (DOMID_SELF only).
 * Both grants stay pinned while the bytes move, so the granter's end-access fails meanwhile.
 * Rule: every offset/length is checked against the page before any byte moves.
 */
import {
  DOMID_SELF,
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTST_bad_copy_arg,
  GNTST_bad_domain,
  GNTST_bad_page,
  GNTST_okay,
  GNTST_permission_denied,
  PAGE_SIZE,
} from "./consts.ts";
import type { GrantTables } from "./gnttab.ts";
import type { Frame, GnttabHost } from "./host.ts";

/** One side of a copy (gnttab_copy_ptr): `ref` or `gmfn` per the flags, domid, offset. */
export interface CopyPtr {
  ref: number;
  gmfn: bigint;
  domid: number;
  offset: number;
}

/** A claimed side: its frame, and how to let go of it. */
interface Claim {
  frame: Frame;
  release(): void;
}

/** Resolves one side to a frame: by grant (pinned for the copy) or by the caller's own gmfn. */
function claim(
  gt: GrantTables,
  host: GnttabHost,
  caller: number,
  ptr: CopyPtr,
  byGref: boolean,
  readonly: boolean,
): Claim | number {
  if (!byGref) {
    // Copy by frame number is only for the caller's own memory: no grant protects anyone else's.
    if (ptr.domid !== DOMID_SELF) return GNTST_permission_denied;
    if (ptr.gmfn < 0n || ptr.gmfn > 0xffffffffn) return GNTST_bad_page;
    const frame = host.frameOf(caller, Number(ptr.gmfn));
    return frame === undefined ? GNTST_bad_page : { frame, release: () => undefined };
  }
  const granter = ptr.domid === DOMID_SELF ? caller : ptr.domid;
  if (!host.domainExists(granter)) return GNTST_bad_domain;
  const frame = gt.pin(granter, ptr.ref, caller, readonly);
  if (typeof frame === "number") return frame;
  return { frame, release: () => gt.unpin(granter, ptr.ref, readonly) };
}

/**
 * Performs one gnttab_copy for `caller`. Returns its GNTST status. A read-only grant cannot be the
 * destination (its pin asks for write access and is refused with GNTST_permission_denied).
 */
export function grantCopy(
  gt: GrantTables,
  host: GnttabHost,
  caller: number,
  op: { source: CopyPtr; dest: CopyPtr; len: number; flags: number },
): number {
  const { source, dest, len } = op;
  const inPage = (off: number) => Number.isInteger(off) && off >= 0 && off + len <= PAGE_SIZE;
  if (!Number.isInteger(len) || len < 0 || !inPage(source.offset) || !inPage(dest.offset)) {
    return GNTST_bad_copy_arg;
  }
  const src = claim(gt, host, caller, source, (op.flags & GNTCOPY_source_gref) !== 0, true);
  if (typeof src === "number") return src;
  const dst = claim(gt, host, caller, dest, (op.flags & GNTCOPY_dest_gref) !== 0, false);
  if (typeof dst === "number") {
    src.release();
    return dst;
  }
  // TypedArray.set copies as if through a temporary, so overlapping ranges of one frame are fine.
  new Uint8Array(dst.frame.buffer, dest.offset, len).set(
    new Uint8Array(src.frame.buffer, source.offset, len),
  );
  dst.release();
  src.release();
  return GNTST_okay;
}
