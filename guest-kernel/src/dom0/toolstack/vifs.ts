/**
 * A domain's network interfaces in xenstore, laid out as libxl lays out vifs: for each `vif = [...]`
 * entry a frontend directory the guest owns (/local/domain/<domid>/device/vif/<handle>, dom0 may
 * read it) and a backend directory dom0 owns (/local/domain/0/backend/vif/<domid>/<handle>, the
 * guest may read it), each naming the other, with the MAC, bridge, address and MTU from the config,
 * both in state Initialising. dom0's netback and the guest's netfront take it from there.
 */
import type { VifSpec } from "./cfg-devices.ts";
import { domainPath, type StoreWriter, writeDeviceDirs } from "./store-layout.ts";
import { VIF_ROOT } from "../netback/service.ts";

/** A vif's frontend directory (the guest's) and backend directory (dom0's), by device id. */
export const vifFrontendDir = (domid: number, devid: number) => `${domainPath(domid)}/device/vif/${devid}`;
export const vifBackendDir = (domid: number, devid: number) => `${VIF_ROOT}/${domid}/${devid}`;

export function writeVifEntries(store: StoreWriter, domid: number, vifs: readonly VifSpec[]): void {
  for (const v of vifs) {
    const fe = vifFrontendDir(domid, v.devid);
    const be = vifBackendDir(domid, v.devid);
    writeDeviceDirs(
      store,
      domid,
      { fe, be },
      [
        ["handle", String(v.devid)],
        ["mac", v.mac],
        ["state", "1"],
      ],
      [
        ["handle", String(v.devid)],
        ["mac", v.mac],
        ["bridge", v.bridge],
        ["mtu", String(v.mtu ?? 1500)],
        ...(v.ip ? ([["ip", v.ip]] as [string, string][]) : []),
        ["type", "vmxnet"],
        ["online", "1"],
        ["state", "1"],
      ],
    );
  }
}

export function removeVifEntries(store: StoreWriter, domid: number): void {
  if (store.tryRead(`${VIF_ROOT}/${domid}`) !== undefined) store.rm(`${VIF_ROOT}/${domid}`);
}
