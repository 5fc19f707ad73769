/**
 * Device specifications inside a domain config, in xl's two spellings:
 *   disk: 'format=raw, vdev=xvda, access=rw, target=/path/disk.img'  or  'file:/path/disk.img,xvda,w'
 *   vif:  'mac=00:16:3e:00:00:01, bridge=pvbr0, ip=10.0.0.2'
 * Each parser reports a problem through `fail`, which throws the config error for its line.
 */
import { isAbsolute, resolve } from "node:path";
import { vdevNumber } from "@pvkit/drivers/blk/protocol";

export interface DiskSpec {
  /** Absolute path of the image file. */
  target: string;
  format: "raw";
  /** Guest device name: xvda, xvdb, ... */
  vdev: string;
  readonly: boolean;
}

export interface VifSpec {
  /** Its device id (the handle; eth<devid> in the guest): its place in `vif = [...]`, or what
   * `pvkit network-attach` chose. */
  devid: number;
  /** Guest MAC (Xen's OUI 00:16:3e, randomised when absent). */
  mac: string;
  bridge: string;
  ip?: string;
  /** 68..9000 (vmxnet's largest); 1500 when absent. */
  mtu?: number;
}

/** A MAC address as xl writes it: six hex pairs with colons. */
export const MAC_PATTERN = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i;

function keyValues(spec: string, what: string, fail: (p: string) => never): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of spec
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = part.indexOf("=");
    if (eq < 1) fail(`${what}: "${part}" is not key=value`);
    out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

export function parseDisk(spec: string, index: number, base: string, fail: (p: string) => never): DiskSpec {
  const what = `disk ${index}`;
  let target: string | undefined;
  let format = "raw";
  let vdev: string | undefined;
  let access = "rw";
  if (spec.includes("=")) {
    const kv = keyValues(spec, what, fail);
    for (const k of kv.keys())
      if (!["target", "format", "vdev", "access", "devtype"].includes(k))
        fail(`${what}: unknown disk key "${k}"`);
    target = kv.get("target");
    format = kv.get("format") ?? "raw";
    vdev = kv.get("vdev");
    access = kv.get("access") ?? "rw";
  } else {
    // Positional: [target],[format],vdev,[access] — or the classic three-field 'file:/path,xvda,w'.
    const parts = spec.split(",").map((s) => s.trim());
    if (parts.length === 3) [target, vdev, access] = parts;
    else if (parts.length === 4) [target, format, vdev, access] = parts;
    else fail(`${what}: expected 'target,vdev,access' or key=value pairs, got "${spec}"`);
    target = target?.replace(/^(file|phy|aio|tap2?:\w+):/, "");
  }
  if (!target) fail(`${what}: missing target (the image file)`);
  if (format !== "raw") fail(`${what}: format "${format}" is not supported (pvkit disks are raw images)`);
  if (!vdev || !/^xvd[a-z]+$/.test(vdev)) fail(`${what}: vdev must be xvda, xvdb, ... (got "${vdev ?? ""}")`);
  try {
    vdevNumber(vdev!);
  } catch (e) {
    fail(`${what}: ${(e as Error).message}`);
  }
  const ro = access === "r" || access === "ro";
  if (!ro && access !== "w" && access !== "rw")
    fail(`${what}: access must be r/ro or w/rw (got "${access}")`);
  return {
    target: isAbsolute(target!) ? target! : resolve(base, target!),
    format: "raw",
    vdev: vdev!,
    readonly: ro,
  };
}

/** The `vif = [...]` entry `spec`, which becomes device `devid`. */
export function parseVif(spec: string, devid: number, fail: (p: string) => never): VifSpec {
  const what = `vif ${devid}`;
  const kv = keyValues(spec, what, fail);
  for (const k of kv.keys())
    if (!["mac", "bridge", "ip", "mtu", "model", "type"].includes(k)) fail(`${what}: unknown vif key "${k}"`);
  const mac = kv.get("mac") ?? randomMac();
  if (!MAC_PATTERN.test(mac)) fail(`${what}: "${mac}" is not a MAC address`);
  const ip = kv.get("ip");
  if (ip !== undefined && !/^(\d{1,3}\.){3}\d{1,3}$/.test(ip))
    fail(`${what}: "${ip}" is not an IPv4 address`);
  const out: VifSpec = { devid, mac: mac.toLowerCase(), bridge: kv.get("bridge") ?? "pvbr0" };
  if (ip !== undefined) out.ip = ip;
  const mtu = kv.get("mtu");
  if (mtu !== undefined) {
    if (!/^\d+$/.test(mtu) || Number(mtu) < 68 || Number(mtu) > 9000)
      fail(`${what}: mtu must be a whole number from 68 to 9000 (got "${mtu}")`);
    out.mtu = Number(mtu);
  }
  const bridge = out.bridge;
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(bridge))
    fail(`${what}: bridge "${bridge}" is not a bridge name (letters, digits, _.-, at most 15)`);
  return out;
}

/** A locally-administered-looking MAC under Xen's OUI, as xl generates. */
function randomMac(): string {
  const b = Array.from({ length: 3 }, () => Math.floor(Math.random() * 256));
  b[0]! &= 0x7f;
  return ["00", "16", "3e", ...b.map((x) => x.toString(16).padStart(2, "0"))].join(":");
}
