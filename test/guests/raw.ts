/**
 * Helpers for raw test guests: guests that run on the arch layer alone (no kernel), to drive
 * hypercalls directly. They report by writing JSON lines to console_io, which the test reads back
 * with hv.consoleLog(domid).
 */
import { currentArch } from "@pvkit/guest-kernel/arch/handoff";
import { SharedInfo } from "@pvkit/abi/layout";
import { XenError } from "@pvkit/abi";

export const arch = currentArch();
export const { hc, memory } = arch;
export const PAGE = 4096;

export function report(obj: Record<string, unknown>): void {
  const line = JSON.stringify(obj, (_k, v) => (typeof v === "bigint" ? Number(v) : v)) + "\n";
  hc.consoleIo.write(new TextEncoder().encode(line));
}

/** `key=value` from the command line. */
export function arg(key: string): string {
  const m = new RegExp(`(?:^|\\s)${key}=(\\S+)`).exec(arch.startInfo.cmd_line);
  if (!m) throw new Error(`missing ${key}= on the command line`);
  return m[1]!;
}

/** Runs a hypercall and returns "ok" or the Xen errno name it failed with. */
export function errnoOf(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (e) {
    if (e instanceof XenError) return e.errnoName;
    throw e;
  }
}

const pending = new BigUint64Array(arch.sharedInfo.buffer, SharedInfo.offsets.evtchn_pending, 64);

/** Waits (SCHEDOP_poll) until `port` is pending, then clears it. */
export async function waitPort(port: number): Promise<void> {
  memory.write(6 * PAGE, new Uint8Array(new Uint32Array([port]).buffer));
  const bit = 1n << BigInt(port & 63);
  while ((Atomics.load(pending, port >> 6) & bit) === 0n) {
    await hc.schedOp.poll({ ports: BigInt(6 * PAGE), nr_ports: 1, timeout: 0n });
  }
  Atomics.and(pending, port >> 6, ~bit);
}

export function text(addr: number, len: number): string {
  return new TextDecoder().decode(memory.read(addr, len));
}

export function poweroff(): never {
  hc.schedOp.shutdown({ reason: 0 });
  throw new Error("unreachable");
}
