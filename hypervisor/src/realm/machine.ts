/**
 * The machine object a domain's arch layer runs on (PvkitMachine, abi/src/machine.ts), built by the
 * supervisor over the vCPU's trap transport and the worker's mail port. In a domU it is the only
 * thing of the host the realm receives, so every entry point checks its arguments (primitives only)
 * before they reach shared memory, and returns only primitives, fresh plain objects and the frames
 * the hypervisor gave this domain.
 */
import type { MachineMail, PvkitMachine } from "@pvkit/abi/machine";
import { __HYPERVISOR_event_channel_op, EVTCHNOP_send } from "@pvkit/abi/layout";
import type { SupervisorBoot } from "./boot-data.ts";
import { MailKind, MailReader, type MailEntry } from "./mail-ring.ts";
import { TrapTransport } from "./trap.ts";
import type { Wakes } from "./wakes.ts";
import type { FrameSpan, FrameViews } from "./frame-views.ts";

/**
 * The mail of one drain, in order: consecutive `frames` entries (populate_physmap) whose pfns and
 * mfns both count up become one run, every other entry hands one frame or none. `spans` is what
 * needs a view, `make` builds the mail once the views exist.
 */
function planMail(entries: readonly MailEntry[]) {
  type Part = { kind: "run"; pfn: number; span: number } | { kind: "one"; e: MailEntry; span: number };
  const spans: FrameSpan[] = [];
  const parts: Part[] = [];
  for (let i = 0; i < entries.length;) {
    const e = entries[i]!;
    if (e.kind === MailKind.frames) {
      let n = 1;
      for (; i + n < entries.length; n++) {
        const next = entries[i + n]!;
        if (next.kind !== MailKind.frames || next.key !== e.key + n || next.mfn !== e.mfn + n) break;
      }
      parts.push({ kind: "run", pfn: e.key, span: spans.push({ mfn: e.mfn, pages: n }) - 1 });
      i += n;
      continue;
    }
    const hands = e.kind !== MailKind.drop && e.kind !== MailKind.unmap;
    parts.push({ kind: "one", e, span: hands ? spans.push({ mfn: e.mfn, pages: 1 }) - 1 : -1 });
    i++;
  }
  const make = (bufs: SharedArrayBuffer[]): MachineMail[] => {
    const out: MachineMail[] = [];
    for (const p of parts) {
      if (p.kind === "run") {
        // A populate's runs come as one mail, as its frames used to.
        const run = { pfn: p.pfn, buf: bufs[p.span]! };
        const last = out[out.length - 1];
        if (last?.t === "frames") (last.runs as { pfn: number; buf: SharedArrayBuffer }[]).push(run);
        else out.push({ t: "frames", runs: [run] });
      } else out.push(mailOf(p.e, p.span >= 0 ? bufs[p.span] : undefined));
    }
    return out;
  };
  return { spans, make };
}

/** A mail-ring entry other than `frames` as the guest receives it (`buf`: its frame's view). */
function mailOf(e: MailEntry, buf: SharedArrayBuffer | undefined): MachineMail {
  switch (e.kind) {
    case MailKind.drop:
      return { t: "drop", pfns: [e.key] };
    case MailKind.gnttab:
      return { t: "gnttab", mfns: [e.key], bufs: [buf!] };
    case MailKind.map:
    case MailKind.mapReadonly:
      return { t: "map", addr: e.key, buf: buf!, readonly: e.kind === MailKind.mapReadonly };
    default:
      return { t: "unmap", addr: e.key };
  }
}

const NO_MAIL: readonly MachineMail[] = Object.freeze([]);

/**
 * A 64-bit register value: bigints only (a Proxy or object must not run code inside a trap). The
 * register block is a BigUint64Array, which takes any bigint modulo 2^64, as a register would.
 */
function reg(v: unknown): bigint {
  if (typeof v !== "bigint") throw new TypeError("hypercall arguments are 64-bit registers: pass bigints");
  return v;
}

/** The one call a guest may post (PvkitMachine.post): a notify, whose answer no caller reads. */
const POSTABLE_OP = __HYPERVISOR_event_channel_op;
const POSTABLE_CMD = BigInt(EVTCHNOP_send);

function opNumber(v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff)
    throw new TypeError("hypercall number must be an integer in [0, 2^32)");
  return v;
}

/** What of a domain's boot data its machine is built from. */
export type MachineBoot = Pick<
  SupervisorBoot,
  | "domid"
  | "privileged"
  | "runs"
  | "sharedInfo"
  | "vcpuPage"
  | "doorbell"
  | "startInfoPfn"
  | "maxPages"
  | "programUrl"
  | "tscResolutionNs"
>;

export interface MachineParts {
  machine: PvkitMachine;
  transport: TrapTransport;
}

/**
 * @param onTrap bookkeeping after every trap (the memory gate).
 * @param hrtime the host's monotonic ns counter (captured before lockdown).
 */
export function buildMachine(
  boot: MachineBoot,
  views: FrameViews,
  onTrap: () => void,
  hrtime: () => bigint,
  wakes?: Wakes,
): MachineParts {
  const mail: MachineMail[] = [];
  const ring = new MailReader(boot.vcpuPage);
  // A drain's new memory comes as runs: one view (in a cell, one mapping) per run.
  const drain = () => {
    const entries = ring.take();
    if (entries.length === 0) return;
    const plan = planMail(entries);
    mail.push(...plan.make(views(plan.spans)));
  };
  const transport = new TrapTransport(boot.vcpuPage, boot.doorbell, hrtime, drain, onTrap, wakes);
  const res = BigInt(Math.max(0, Math.floor(boot.tscResolutionNs)));
  const machine: PvkitMachine = {
    domid: boot.domid,
    privileged: boot.privileged,
    runs: Object.freeze(boot.runs.map((r) => Object.freeze({ pfn: r.pfn, buf: r.buf }))),
    sharedInfo: boot.sharedInfo,
    startInfoPfn: boot.startInfoPfn,
    maxPages: boot.maxPages,
    ...(boot.programUrl ? { programUrl: boot.programUrl } : {}),
    trap: (op, a0, a1, a2, a3, a4) =>
      transport.trap(opNumber(op), reg(a0), reg(a1), reg(a2), reg(a3), reg(a4)),
    trapAsync: (op, a0, a1, a2, a3, a4) =>
      transport.trapAsync(opNumber(op), reg(a0), reg(a1), reg(a2), reg(a3), reg(a4)),
    post: (op, a0, a1, a2, a3, a4) => {
      if (opNumber(op) !== POSTABLE_OP || reg(a0) !== POSTABLE_CMD)
        throw new TypeError(
          "only event_channel_op/EVTCHNOP_send may be posted: every other call's answer matters",
        );
      transport.post(POSTABLE_OP, POSTABLE_CMD, reg(a1), reg(a2), reg(a3), reg(a4));
    },
    takeMail: () => (mail.length === 0 ? NO_MAIL : mail.splice(0)),
    // Rounded up, never down: the guest must not see a time before a VIRQ_TIMER deadline that the
    // hypervisor already found passed.
    rdtsc: res > 1n ? () => ((hrtime() + res - 1n) / res) * res : hrtime,
  };
  return { machine, transport };
}
