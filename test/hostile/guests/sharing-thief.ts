/**
 * A guest program that goes after what its neighbours share, with nothing but the SDK a program is
 * given (k.events, k.grants, k.xenstore). It learns the numbers the lender published for its friend
 * from the test (`data/targets`), as a guest could by guessing, and tries every way in. Each attempt's
 * outcome (the error's words, or "OK") is reported; the test says what must have happened.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import { waitForNode } from "@pvkit/guest-kernel/lib/vchan";

interface Targets {
  lender: number;
  friend: number;
  ref: number;
  port: number;
  roRef: number;
}

/** "OK" (and the value), or the error's name and message. */
async function attempt(f: () => unknown): Promise<string> {
  try {
    const v = await f();
    return v === undefined ? "OK" : `OK ${String(v)}`;
  } catch (e) {
    return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  }
}

export default async function main(k: KernelHandle): Promise<void> {
  const t = JSON.parse(await waitForNode(k, "data/targets")) as Targets;
  const home = `/local/domain/${t.lender}/data/vchan`;
  const text = (v: DataView) => new TextDecoder().decode(new Uint8Array(v.buffer, v.byteOffset, 28));
  const consolePort = Number(await k.xenstore.read("console/port"));
  const storePort = Number(await k.xenstore.read("store/port"));
  const r: Record<string, string> = {
    readRef: await attempt(() => k.xenstore.read(`${home}/ring-ref`)),
    chmodRef: await attempt(() => k.xenstore.setPerms(`${home}/ring-ref`, [`n${k.domid}`])),
    overwriteRef: await attempt(() => k.xenstore.write(`${home}/ring-ref`, "8")),
    mapFriendsPage: await attempt(() => k.grants.map(t.lender, t.ref).view.getUint8(0)),
    copyFriendsPage: await attempt(() => k.grants.copyFrom(t.lender, t.ref, 0, 16)),
    writeFriendsPage: await attempt(() => k.grants.copyTo(t.lender, t.ref, 0, new Uint8Array(8))),
    bindFriendsPort: await attempt(() => k.events.bindInterdomain(t.lender, t.port, () => undefined)),
    mapReadOnlyForWrite: await attempt(() => k.grants.map(t.lender, t.roRef).view.getUint8(0)),
    copyToReadOnly: await attempt(() => k.grants.copyTo(t.lender, t.roRef, 0, new Uint8Array(8).fill(88))),
    mapReadOnly: await attempt(() => text(k.grants.map(t.lender, t.roRef, { readonly: true }).view)),
    copyReadOnly: await attempt(() => new TextDecoder().decode(k.grants.copyFrom(t.lender, t.roRef, 0, 28))),
    copyAcrossPage: await attempt(() => k.grants.copyFrom(t.lender, t.roRef, 4000, 200)),
    friendsConsoleRing: await attempt(() => k.grants.map(t.friend, 0).view.getUint8(0)),
    friendsStoreRing: await attempt(() => k.grants.map(t.friend, 1).view.getUint8(0)),
    dom0Grant: await attempt(() => k.grants.map(0, 8).view.getUint8(0)),
    notifyKernelConsole: await attempt(() => k.events.notify(consolePort)),
    closeKernelStore: await attempt(() => k.events.close(storePort)),
    bindOwnKernelPort: await attempt(() => k.events.bindInterdomain(k.domid, storePort, () => undefined)),
  };
  k.print(JSON.stringify({ phase: "attacked", ...r }));
  await new Promise<never>(() => {}); // stay up: the test checks that nobody crashed
}
