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

export function writeVifEntries(store: StoreWriter, domid: number, vifs: readonly VifSpec[]): void {
  vifs.forEach((v, handle) => {
    const fe = `${domainPath(domid)}/device/vif/${handle}`;
    const be = `${VIF_ROOT}/${domid}/${handle}`;
    writeDeviceDirs(
      store,
      domid,
      { fe, be },
      [
        ["handle", String(handle)],
        ["mac", v.mac],
        ["state", "1"],
      ],
      [
        ["handle", String(handle)],
        ["mac", v.mac],
        ["bridge", v.bridge],
        ["mtu", String(v.mtu ?? 1500)],
        ...(v.ip ? ([["ip", v.ip]] as [string, string][]) : []),
        ["type", "vmxnet"],
        ["online", "1"],
        ["state", "1"],
      ],
    );
  });
}

export function removeVifEntries(store: StoreWriter, domid: number): void {
  if (store.tryRead(`${VIF_ROOT}/${domid}`) !== undefined) store.rm(`${VIF_ROOT}/${domid}`);
}
