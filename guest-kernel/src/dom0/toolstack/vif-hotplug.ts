/**
 * `pvkit network-attach` and `pvkit network-detach` (xl's): a network interface added to a running
 * domain, or taken from it.
 *
 * Attach writes one vif's frontend and backend directories, as create does for `vif = [...]`
 * (vifs.ts), under the next device id (libxl's: one past the highest in use): dom0's netback takes
 * up the backend directory and plugs the vif into its bridge, and the guest's kernel, which follows
 * its device/vif, connects it as eth<devid>. It answers once the guest has connected it, or says
 * that it has not. Detach is device-hotplug.ts's; the vif is named by its device id or its MAC, as
 * xl's is. A guest's netfront never refuses (as Linux's): a stack on the interface loses it.
 */
import { MAC_PATTERN, parseVif, type VifSpec } from "./cfg-devices.ts";
import {
  HOTPLUG_TIMEOUT_MS,
  HotplugError,
  type HotplugStore,
  detachDevice,
  frontendConnects,
  hotplugDevice,
} from "./device-hotplug.ts";
import { vifBackendDir, vifFrontendDir, writeVifEntries } from "./vifs.ts";
import { VIF_ROOT } from "../netback/service.ts";
import { domainPath } from "./store-layout.ts";

/** Device ids stay below this (the guest names the vif eth<devid>). */
const DEVID_LIMIT = 1 << 16;

/** The numeric entries of directory `dir` (none when it does not exist). */
function ids(store: HotplugStore, dir: string): number[] {
  let names: string[];
  try {
    names = store.directory(dir);
  } catch {
    return [];
  }
  return names.filter((n) => /^\d{1,5}$/.test(n)).map(Number);
}

/**
 * The id for a new vif of `domid`: one past the highest dom0 serves for it, stepping over a
 * frontend directory left behind without its backend (the guest cannot make one: device/ is
 * dom0's), whose nodes would otherwise mix with the new vif's.
 */
function nextDevid(store: HotplugStore, domid: number): number {
  const served = ids(store, `${VIF_ROOT}/${domid}`);
  const guests = new Set(ids(store, `${domainPath(domid)}/device/vif`));
  let devid = served.length > 0 ? Math.max(...served) + 1 : 0;
  while (guests.has(devid)) devid++;
  if (devid >= DEVID_LIMIT) throw new HotplugError(`no free device id below ${DEVID_LIMIT}`);
  return devid;
}

/**
 * Adds the vif `spec` (a `vif = [...]` entry's text) to domain `domid`: its directories are written
 * when this returns. Returns the vif, and whether the guest connected it within `timeoutMs`.
 */
export function attachVif(
  store: HotplugStore,
  domid: number,
  spec: string,
  timeoutMs = HOTPLUG_TIMEOUT_MS,
): { vif: VifSpec; connected: Promise<boolean> } {
  const devid = nextDevid(store, domid);
  const vif = parseVif(spec, devid, (why) => {
    throw new HotplugError(why.replace(/^vif \d+: /, ""));
  });
  // Two interfaces of one domain with one address would take turns in the bridge's MAC table.
  for (const id of ids(store, `${VIF_ROOT}/${domid}`))
    if (store.tryRead(`${vifBackendDir(domid, id)}/mac`) === vif.mac)
      throw new HotplugError(`${vif.mac} is already the MAC of its vif ${id}`);
  writeVifEntries(store, domid, [vif]);
  return { vif, connected: frontendConnects(store, vifFrontendDir(domid, devid), timeoutMs) };
}

/** Takes the vif `which` (its device id, or its MAC) from domain `domid`; returns its device id. */
export async function detachVif(
  store: HotplugStore,
  domid: number,
  which: string,
  force: boolean,
  timeoutMs = HOTPLUG_TIMEOUT_MS,
): Promise<number> {
  let devid: number | undefined;
  if (/^\d{1,5}$/.test(which)) devid = Number(which);
  else if (MAC_PATTERN.test(which)) {
    const mac = which.toLowerCase();
    devid = ids(store, `${VIF_ROOT}/${domid}`).find(
      (id) => store.tryRead(`${vifBackendDir(domid, id)}/mac`) === mac,
    );
    if (devid === undefined) throw new HotplugError(`no vif has the MAC ${mac}`);
  } else throw new HotplugError(`"${which}" is neither a device id (0, 1, ...) nor a MAC address`);
  const dev = hotplugDevice(domid, `vif ${devid}`, `vif/${devid}`, vifBackendDir(domid, devid));
  await detachDevice(store, dev, force, timeoutMs);
  return devid;
}
