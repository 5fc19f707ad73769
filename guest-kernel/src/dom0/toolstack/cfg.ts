/**
 * xl.cfg-style domain configuration: what `pvkit create demo.cfg` reads. parseDomainConfig turns the
 * settings of cfg-syntax.ts into a typed DomainConfig, or throws one ConfigError naming the file, the
 * line, the key and what is wrong. Paths in the file are relative to the file.
 */
import { randomUUID } from "node:crypto";
import { SHUTDOWN_crash, SHUTDOWN_poweroff, SHUTDOWN_reboot, SHUTDOWN_watchdog } from "@pvkit/abi/layout";
import { dirname, isAbsolute, resolve } from "node:path";
import { ConfigError, parseCfgSyntax, type CfgSetting, type CfgValue } from "./cfg-syntax.ts";
import { parseDisk, parseVif, type DiskSpec, type VifSpec } from "./cfg-devices.ts";

export { ConfigError } from "./cfg-syntax.ts";

/** What happens when the domain stops for a reason (xl's on_poweroff/on_reboot/on_crash). */
export type LifecycleAction = "destroy" | "restart" | "preserve";

export interface DomainConfig {
  /** The file it came from (for messages and for `restart`). */
  file: string;
  name: string;
  uuid: string;
  /** Absolute path of the guest program module (`export default async function main(k)`). */
  kernel: string;
  /** MiB */
  memory: number;
  /** MiB: the ceiling the balloon may grow to. */
  maxmem: number;
  vcpus: number;
  disks: DiskSpec[];
  vifs: VifSpec[];
  onPoweroff: LifecycleAction;
  onReboot: LifecycleAction;
  onCrash: LifecycleAction;
  /** Kernel command line. */
  extra: string;
  /** Start the guest's worker with the Node inspector. */
  inspect: boolean;
}

const KEYS = [
  "name",
  "uuid",
  "kernel",
  "memory",
  "maxmem",
  "vcpus",
  "disk",
  "vif",
  "on_poweroff",
  "on_reboot",
  "on_crash",
  "extra",
  "cmdline",
  "inspect",
  "type",
] as const;

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i]![j] = Math.min(
        d[i - 1]![j]! + 1,
        d[i]![j - 1]! + 1,
        d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
  return d[a.length]![b.length]!;
}

function suggest(key: string): string {
  const best = [...KEYS].sort((x, y) => distance(key, x) - distance(key, y))[0]!;
  return distance(key, best) <= 2 ? ` (did you mean "${best}"?)` : "";
}

/** Parses and validates a config file's text. */
export function parseDomainConfig(file: string, text: string): DomainConfig {
  const settings = parseCfgSyntax(file, text);
  const byKey = new Map<string, CfgSetting>();
  for (const s of settings) {
    if (!(KEYS as readonly string[]).includes(s.key))
      throw new ConfigError(file, s.line, s.key, `unknown setting${suggest(s.key)}`);
    byKey.set(s.key, s);
  }
  const fail = (s: CfgSetting, problem: string): never => {
    throw new ConfigError(file, s.line, s.key, problem);
  };
  const str = (key: string): string | undefined => {
    const s = byKey.get(key);
    if (!s) return undefined;
    return typeof s.value === "string" ? s.value : fail(s, `expected a quoted string, got ${show(s.value)}`);
  };
  const int = (key: string, unit: string, min: number, max: number): number | undefined => {
    const s = byKey.get(key);
    if (!s) return undefined;
    const v = typeof s.value === "string" && /^[0-9]+$/.test(s.value) ? Number(s.value) : s.value;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
      return fail(s, `expected a whole number from ${min} to ${max}${unit}, got ${show(s.value)}`);
    return v;
  };
  const list = (key: string): { items: string[]; setting?: CfgSetting } => {
    const s = byKey.get(key);
    if (!s) return { items: [] };
    if (!Array.isArray(s.value) || s.value.some((x) => typeof x !== "string"))
      return fail(s, `expected a list of quoted strings, like [ '...' ], got ${show(s.value)}`);
    return { items: s.value as string[], setting: s };
  };
  const action = (key: string, dflt: LifecycleAction): LifecycleAction => {
    const v = str(key);
    if (v === undefined) return dflt;
    if (v === "destroy" || v === "restart" || v === "preserve") return v;
    return fail(byKey.get(key)!, `"${v}" is not supported (use destroy, restart or preserve)`);
  };

  const nameSetting = byKey.get("name");
  const name = str("name");
  if (!name || !nameSetting) throw new ConfigError(file, 1, "name", "missing (every domain needs a name)");
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name))
    fail(nameSetting, `"${name}" is not a valid name (letters, digits, '_', '.', '-'; at most 64)`);

  const type = str("type");
  if (type !== undefined && type !== "pv")
    fail(byKey.get("type")!, `"${type}" guests are not supported (pvkit runs PV guests: type = "pv")`);

  const kernelSetting = byKey.get("kernel");
  const kernel = str("kernel");
  if (!kernel || !kernelSetting)
    throw new ConfigError(file, 1, "kernel", "missing (the guest program module to boot)");
  const base = dirname(resolve(file));
  const kernelPath = isAbsolute(kernel) ? kernel : resolve(base, kernel);

  const memory = int("memory", " MiB", 1, 65536) ?? 64;
  const maxmem = int("maxmem", " MiB", 1, 65536) ?? memory;
  if (maxmem < memory) fail(byKey.get("maxmem")!, `${maxmem} MiB is below memory (${memory} MiB)`);
  const vcpus = int("vcpus", "", 1, 32) ?? 1;
  // The hypervisor runs one vCPU per domain: say so here, not as createdomain's EINVAL.
  if (vcpus > 1) fail(byKey.get("vcpus")!, `${vcpus}: a pvkit domain has one vCPU for now (vcpus = 1)`);

  const uuid = str("uuid") ?? randomUUID();
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(uuid))
    fail(byKey.get("uuid")!, `"${uuid}" is not a UUID`);

  const disks = list("disk");
  const vifs = list("vif");
  const inspect = byKey.get("inspect");
  if (inspect && inspect.value !== 0 && inspect.value !== 1) fail(inspect, "expected 0 or 1");

  return {
    file,
    name,
    uuid: uuid.toLowerCase(),
    kernel: kernelPath,
    memory,
    maxmem,
    vcpus,
    disks: disks.items.map((d, i) => parseDisk(d, i, base, (p) => fail(disks.setting!, p))),
    vifs: vifs.items.map((v, i) => parseVif(v, i, (p) => fail(vifs.setting!, p))),
    onPoweroff: action("on_poweroff", "destroy"),
    onReboot: action("on_reboot", "restart"),
    onCrash: action("on_crash", "destroy"),
    extra: str("extra") ?? str("cmdline") ?? "",
    inspect: inspect?.value === 1,
  };
}

function show(v: CfgValue): string {
  return Array.isArray(v) ? "a list" : JSON.stringify(v);
}

/** What the cfg's on_poweroff / on_reboot / on_crash says to do after a shutdown with `reason`. */
export function lifecycleAction(cfg: DomainConfig, reason: number): LifecycleAction {
  if (reason === SHUTDOWN_poweroff) return cfg.onPoweroff;
  if (reason === SHUTDOWN_reboot) return cfg.onReboot;
  if (reason === SHUTDOWN_crash || reason === SHUTDOWN_watchdog) return cfg.onCrash;
  return "preserve";
}
