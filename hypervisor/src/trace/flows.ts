/**
 * The flows a trace draws between domains, one helper per kind so that the subsystems that see them
 * (evtchn/evtchn.ts, gnttab/gnttab.ts) add one guarded line each. Every flow runs from the domain
 * whose action causes it to the domain it reaches:
 *
 * - evtchn: EVTCHNOP_send on an interdomain port → the notify arriving at the peer's port, on the
 *   peer vCPU the port is bound to (`evtchn send` → `evtchn notify`).
 * - grant map: the granting domain's grant → the mapping domain's GNTTABOP_map_grant_ref
 *   (`grant mapped` → `grant map`).
 * - grant copy: the way the bytes go. From another domain's grant into the caller's buffer is
 *   granter → caller (`grant read` → `grant copy`); from the caller into another's grant is
 *   caller → granter (`grant copy` → `grant written`). A copy between two other domains' grants
 *   draws both.
 *
 * The caller's end sits on the calling vCPU inside its hypercall's span; the other domain's end on
 * its vCPU 0 (or the port's vCPU), whatever it happens to be doing then.
 */
import type { Tracer } from "./tracer.ts";

/** EVTCHNOP_send by `from`:`fromPort` reached `to`:`toPort`, bound to vCPU `toVcpu`. */
export function evtchnFlow(
  tr: Tracer,
  from: number,
  fromPort: number,
  to: number,
  toPort: number,
  toVcpu: number,
): void {
  tr.flow(
    "evtchn",
    {
      pid: from,
      tid: tr.callerTid(from),
      name: "evtchn send",
      args: { port: fromPort, remote_dom: to, remote_port: toPort },
    },
    {
      pid: to,
      tid: toVcpu,
      name: "evtchn notify",
      args: { port: toPort, remote_dom: from, remote_port: fromPort },
    },
  );
}

/** `mapper` mapped grant `ref` of `granter`. */
export function grantMapFlow(
  tr: Tracer,
  granter: number,
  ref: number,
  mapper: number,
  readonly: boolean,
): void {
  tr.flow(
    "gnttab",
    { pid: granter, tid: 0, name: "grant mapped", args: { ref, by: mapper, readonly } },
    { pid: mapper, tid: tr.callerTid(mapper), name: "grant map", args: { granter, ref, readonly } },
  );
}

/** `caller` copied `len` bytes out of grant `ref` of `granter`. */
export function grantReadFlow(tr: Tracer, granter: number, ref: number, caller: number, len: number): void {
  tr.flow(
    "gnttab",
    { pid: granter, tid: 0, name: "grant read", args: { ref, by: caller, len } },
    { pid: caller, tid: tr.callerTid(caller), name: "grant copy", args: { from: granter, ref, len } },
  );
}

/** `caller` copied `len` bytes into grant `ref` of `granter`. */
export function grantWriteFlow(tr: Tracer, caller: number, granter: number, ref: number, len: number): void {
  tr.flow(
    "gnttab",
    { pid: caller, tid: tr.callerTid(caller), name: "grant copy", args: { to: granter, ref, len } },
    { pid: granter, tid: 0, name: "grant written", args: { ref, by: caller, len } },
  );
}
