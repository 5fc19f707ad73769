/**
 * Device discovery from xenstore: the toolstack writes each device's front-end directory at
 * `device/<type>/<id>` (relative to our home) with `state` and `backend`. This only lists them;
 * drivers do the handshake. Missing or odd nodes are reported as they are, never thrown on.
 */
import type { DeviceInfo } from "./program.ts";
import type { XenStoreClient } from "../xenbus/client.ts";
import { parseState } from "../xenbus/state.ts";

/** Every device under `device/`, sorted by type then id. */
export async function listDevices(xs: XenStoreClient): Promise<DeviceInfo[]> {
  const types = (await xs.directory("device").catch(() => [] as string[])).sort();
  const out: DeviceInfo[] = [];
  for (const type of types) {
    const ids = (await xs.directory(`device/${type}`).catch(() => [] as string[])).sort();
    for (const id of ids) {
      const base = `device/${type}/${id}`;
      out.push({
        type,
        id,
        state: parseState(await xs.tryRead(`${base}/state`)),
        backend: (await xs.tryRead(`${base}/backend`)) ?? "",
      });
    }
  }
  return out;
}
