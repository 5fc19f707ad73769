/**
 * `pvkit block-attach` and `pvkit block-detach` (xl's): a disk added to a running domain, or taken
 * from it.
 *
 * Attach writes one disk's frontend and backend directories, as create does for `disk = [...]`
 * (disks.ts): dom0's blkback takes up the new backend directory, and the guest's kernel, which
 * watches its device/vbd, connects the new disk as it connects those it booted with. It answers
 * once the guest has connected it, or says that it has not.
 *
 * Detach is libxl's: the backend's `online` goes to 0 and its `state` to Closing, which asks the
 * guest to let go. Its blkfront closes (Closing, Closed) — unless the disk is in use, when it says
 * so in its error/ node and stays connected — blkback disconnects as it follows, and once the
 * backend is Closed both directories are removed. A refusal, or no answer within the timeout,
 * leaves the disk as it was and says why; with `force` the directories are removed at once, blkback
 * stops serving, and the guest's requests to that disk fail from then on.
 */
import { XenbusStateClosed, XenbusStateClosing, XenbusStateConnected } from "@pvkit/abi/layout";
import { vdevNumber } from "@pvkit/drivers/blk/protocol";
import type { BootStore } from "./boot-watch.ts";
import { parseDisk } from "./cfg-devices.ts";
import { backendDir, diskProblem, frontendDir, writeDiskEntries } from "./disks.ts";
import { domainPath, type StoreWriter } from "./store-layout.ts";

/** What hotplug needs of xenstored: writes, and watches to wait on (the toolstack's StoreServer). */
export type HotplugStore = StoreWriter & BootStore;

/** How long the guest has to connect an attached disk, or to let go of a detached one (libxl's 10 s). */
export const HOTPLUG_TIMEOUT_MS = 10_000;

export class HotplugError extends Error {}

/** Where the guest's blkfront reports a refusal (Linux's xenbus_dev_error: error/<its device path>). */
const frontendError = (domid: number, vdev: number) => `${domainPath(domid)}/error/device/vbd/${vdev}/error`;

/** Longest refusal the CLI repeats: the text is the guest's, and goes to the user's terminal. */
const REFUSAL_CHARS = 200;

/** A guest's words made safe to print: no control characters (escape sequences), at most a line. */
function printable(text: string): string {
  // C0 and C1 controls (escape sequences), and the line and direction overrides that would make
  // the line read as something else.
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, "?");
  return clean.length > REFUSAL_CHARS ? `${clean.slice(0, REFUSAL_CHARS)}...` : clean;
}

/**
 * Resolves once `done()` says so (looked at now and on every change under `paths`), or with false
 * after `timeoutMs`.
 */
function until(
  store: HotplugStore,
  paths: string[],
  done: () => boolean,
  timeoutMs: number,
): Promise<boolean> {
  return new Promise((resolve) => {
    const unwatch: (() => void)[] = [];
    let over = false;
    const finish = (ok: boolean) => {
      if (over) return;
      over = true;
      clearTimeout(timer);
      for (const u of unwatch.splice(0)) u();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    for (const p of paths) {
      const u = store.watch(p, () => done() && finish(true));
      // A watch whose first call (at registration) already finished the wait goes at once.
      if (over) u();
      else unwatch.push(u);
    }
    if (done()) finish(true);
  });
}

/**
 * Adds the disk `spec` (a `disk = [...]` entry's text; a relative target is taken from `cwd`) to
 * domain `domid`. Returns its name and whether the guest connected it within `timeoutMs`.
 */
export async function attachDisk(
  store: HotplugStore,
  domid: number,
  spec: string,
  cwd: string,
  timeoutMs = HOTPLUG_TIMEOUT_MS,
): Promise<{ vdev: string; connected: boolean }> {
  const d = parseDisk(spec, 0, cwd, (why) => {
    throw new HotplugError(why.replace(/^disk 0: /, ""));
  });
  const vdev = vdevNumber(d.vdev);
  if (
    store.tryRead(frontendDir(domid, vdev)) !== undefined ||
    store.tryRead(backendDir(domid, vdev)) !== undefined
  )
    throw new HotplugError(`${d.vdev} is already attached`);
  const why = diskProblem(d);
  if (why) throw new HotplugError(`${d.target}: ${why}`);
  writeDiskEntries(store, domid, [d]);
  const state = `${frontendDir(domid, vdev)}/state`;
  const connected = await until(
    store,
    [state],
    () => store.tryRead(state) === String(XenbusStateConnected),
    timeoutMs,
  );
  return { vdev: d.vdev, connected };
}

/** Takes disk `name` (xvdb) from domain `domid`, as the file comment says. */
export async function detachDisk(
  store: HotplugStore,
  domid: number,
  name: string,
  force: boolean,
  timeoutMs = HOTPLUG_TIMEOUT_MS,
): Promise<void> {
  if (!/^xvd[a-z]+$/.test(name)) throw new HotplugError(`"${name}" is not a disk name (xvda, xvdb, ...)`);
  let vdev: number;
  try {
    vdev = vdevNumber(name);
  } catch (e) {
    throw new HotplugError((e as Error).message);
  }
  const fe = frontendDir(domid, vdev);
  const be = backendDir(domid, vdev);
  if (store.tryRead(be) === undefined) throw new HotplugError(`${name} is not attached`);
  if (!force) {
    if (store.tryRead(`${be}/online`) === "0") throw new HotplugError(`${name} is being detached already`);
    const error = frontendError(domid, vdev);
    if (store.tryRead(error) !== undefined) store.rm(error);
    const before = store.tryRead(`${be}/state`);
    const closing = String(XenbusStateClosing);
    store.write(`${be}/online`, "0");
    store.write(`${be}/state`, closing);
    // Done when blkback is Closed — or when the directory went meanwhile (a -f, or the domain's end).
    const gone = () => store.tryRead(be) === undefined;
    const closed = () => gone() || store.tryRead(`${be}/state`) === String(XenbusStateClosed);
    await until(store, [be, error], () => closed() || store.tryRead(error) !== undefined, timeoutMs);
    if (!closed()) {
      const refusal = store.tryRead(error);
      // The guest keeps the disk: so does blkback, which serves it until the guest's frontend
      // closes. Put back what we wrote, not what blkback may have written since.
      store.write(`${be}/online`, "1");
      if (before !== undefined && store.tryRead(`${be}/state`) === closing)
        store.write(`${be}/state`, before);
      throw new HotplugError(
        refusal !== undefined
          ? `the guest refused: ${printable(refusal)}`
          : `the guest did not let go of ${name} within ${timeoutMs / 1000} s (-f removes it anyway)`,
      );
    }
  }
  if (store.tryRead(be) !== undefined) store.rm(be);
  if (store.tryRead(fe) !== undefined) store.rm(fe);
}
