/**
 * A guest program, run in a pooled worker, that hunts for what that worker's rehearsal boot left
 * in its realm (hypervisor/src/realm/rehearsal.ts): the rehearsal's machine (domid DOMID_IDLE),
 * its memory (a 16-page buffer that is not one of this domain's), its console text. It walks
 * everything reachable from the global object, its kernel handle and every kernel module a program
 * may import, and prints one JSON report: what it found, and how much it looked at.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import * as program from "@pvkit/guest-kernel/kernel/program";
import * as kernel from "@pvkit/guest-kernel/kernel/kernel";
import * as events from "@pvkit/guest-kernel/kernel/events";
import * as timers from "@pvkit/guest-kernel/kernel/time";
import * as sched from "@pvkit/guest-kernel/kernel/sched";
import * as archboot from "@pvkit/guest-kernel/kernel/archboot";
import * as boot from "@pvkit/guest-kernel/kernel/main";

const DOMID_IDLE = 0x7fff;

export default async function main(k: KernelHandle): Promise<void> {
  const machine = (globalThis as Record<string, unknown>).pvkitMachine as {
    domid: number;
    runs: readonly { buf: SharedArrayBuffer }[];
    sharedInfo: SharedArrayBuffer;
  };
  const own = new Set<unknown>([...machine.runs.map((r) => r.buf), machine.sharedInfo]);
  const found: string[] = [];
  const seen = new Set<unknown>();
  const roots: [unknown, string][] = [
    [globalThis, "globalThis"],
    [k, "k"],
    ...Object.entries({ program, kernel, events, timers, sched, archboot, boot }).map(
      ([n, m]) => [m, n] as [unknown, string],
    ),
  ];
  const todo = [...roots];
  while (todo.length > 0 && seen.size < 200_000) {
    const [v, path] = todo.pop()!;
    if (typeof v === "string" && v.includes("rehearsal")) found.push(`${path}: text "${v.slice(0, 60)}"`);
    if (v === null || (typeof v !== "object" && typeof v !== "function") || seen.has(v)) continue;
    seen.add(v);
    if (v instanceof SharedArrayBuffer && !own.has(v))
      found.push(`${path}: a buffer of ${v.byteLength} bytes`);
    if (ArrayBuffer.isView(v) && v.buffer instanceof SharedArrayBuffer && !own.has(v.buffer)) {
      // A view of this domain's own frames handed over after boot is fine; count only foreign sizes.
      if (v.buffer.byteLength === 16 * 4096) found.push(`${path}: a view of a 16-page buffer`);
    }
    let keys: (string | symbol)[] = [];
    try {
      keys = Reflect.ownKeys(v as object);
    } catch {
      continue; // a revoked proxy or the like: nothing to walk
    }
    todo.push([Object.getPrototypeOf(v), `${path}.__proto__`]);
    for (const key of keys) {
      const d = Reflect.getOwnPropertyDescriptor(v as object, key);
      if (key === "domid" && d?.value === DOMID_IDLE) found.push(`${path}.domid is DOMID_IDLE`);
      if (d && "value" in d) todo.push([d.value, `${path}.${String(key)}`]);
    }
  }
  k.print(
    JSON.stringify({
      machineDomid: machine.domid,
      handleDomid: k.domid,
      walked: seen.size,
      found: found.slice(0, 10),
    }),
  );
}
