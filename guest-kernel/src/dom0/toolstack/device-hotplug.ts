/**
 * What `xl block-attach`/`block-detach` and `network-attach`/`network-detach` share (libxl's
 * device add and remove): waiting for the guest to connect a device the toolstack wrote, and the
 * detach handshake.
 *
 * Detach is libxl's: the backend's `online` goes to 0 and its `state` to Closing, which asks the
 * guest to let go. Its frontend closes (Closing, Closed) — unless the device is in use, when the
 * guest says so in its error/ node and stays connected — the backend disconnects as it follows,
 * and once the backend is Closed both directories are removed. A refusal, or no answer within the
 * timeout, leaves the device as it was and says why; with `force` the directories are removed at
 * once, the backend stops serving, and the guest's requests to that device fail from then on.
 */
import { XenbusStateClosed, XenbusStateClosing, XenbusStateConnected } from "@pvkit/abi/layout";
import type { BootStore } from "./boot-watch.ts";
import { domainPath, type StoreWriter } from "./store-layout.ts";

/**
 * What hotplug needs of xenstored: writes, listings, and watches to wait on (the toolstack's
 * StoreServer).
 */
export type HotplugStore = StoreWriter & BootStore & { directory(path: string): string[] };

/** How long the guest has to connect an attached device, or to let go of a detached one (libxl's 10 s). */
export const HOTPLUG_TIMEOUT_MS = 10_000;

export class HotplugError extends Error {}

/** One device of one domain, as detach finds it in xenstore. */
export interface HotplugDevice {
  /** What the user called it (xvdb, vif 1). */
  name: string;
  /** Its frontend directory (the guest's) and backend directory (dom0's). */
  fe: string;
  be: string;
  /** Where the guest's frontend reports a refusal (Linux's xenbus_dev_error: error/<its device path>). */
  error: string;
}

/** A device's nodes, from its domain and its path under device/ ("vbd/51728"). */
export function hotplugDevice(domid: number, name: string, relative: string, be: string): HotplugDevice {
  const home = domainPath(domid);
  return { name, fe: `${home}/device/${relative}`, be, error: `${home}/error/device/${relative}/error` };
}

/** Longest refusal the CLI repeats: the text is the guest's, and goes to the user's terminal. */
const REFUSAL_CHARS = 200;

/** A guest's words made safe to print: no control characters (escape sequences), at most a line. */
function printable(text: string): string {
  // C0 and C1 controls (escape sequences); the line separators, direction marks and overrides,
  // and invisible characters that would make the line read as something else.
  const clean = text.replace(
    /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g,
    "?",
  );
  // Cut by code point, not UTF-16 unit: half a surrogate pair is not a character.
  const chars = Array.from(clean);
  return chars.length > REFUSAL_CHARS ? `${chars.slice(0, REFUSAL_CHARS).join("")}...` : clean;
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
 * Whether the guest's frontend at `fe` reaches Connected within `timeoutMs` (false at once when its
 * directory goes: a detach, or the domain's end).
 */
export async function frontendConnects(store: HotplugStore, fe: string, timeoutMs: number): Promise<boolean> {
  const connected = () => store.tryRead(`${fe}/state`) === String(XenbusStateConnected);
  await until(store, [fe], () => connected() || store.tryRead(fe) === undefined, timeoutMs);
  return connected();
}

/** Takes `dev` from its domain, as the file comment says. */
export async function detachDevice(
  store: HotplugStore,
  dev: HotplugDevice,
  force: boolean,
  timeoutMs: number,
): Promise<void> {
  const { name, fe, be, error } = dev;
  if (store.tryRead(be) === undefined) throw new HotplugError(`${name} is not attached`);
  // Nothing to ask when either end has closed already: a guest that let go after an earlier
  // detach gave up waiting, or a backend that gave up on the device.
  const closedState = String(XenbusStateClosed);
  const settled =
    store.tryRead(`${fe}/state`) === closedState || store.tryRead(`${be}/state`) === closedState;
  if (!force && !settled) {
    if (store.tryRead(`${be}/online`) === "0") throw new HotplugError(`${name} is being detached already`);
    if (store.tryRead(error) !== undefined) store.rm(error);
    const before = store.tryRead(`${be}/state`);
    const closing = String(XenbusStateClosing);
    store.write(`${be}/online`, "0");
    store.write(`${be}/state`, closing);
    // Done when the backend is Closed — or when its directory went meanwhile (a -f, or the
    // domain's end).
    const gone = () => store.tryRead(be) === undefined;
    const closed = () => gone() || store.tryRead(`${be}/state`) === closedState;
    await until(store, [be, error], () => closed() || store.tryRead(error) !== undefined, timeoutMs);
    if (!closed()) {
      const refusal = store.tryRead(error);
      // The guest keeps the device: so does the backend, which serves it until the guest's
      // frontend closes. Put back what we wrote, not what the backend may have written since.
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
