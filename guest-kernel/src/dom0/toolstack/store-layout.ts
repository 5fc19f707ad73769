/**
 * The xenstore entries a new domain gets, with the permissions libxl gives them: its home
 * /local/domain/<id> belongs to dom0 and the domain may only read it ("n0", "r<id>"), so what the
 * toolstack writes there — name, domid, vm, memory, cpu, console and store details — is the guest's
 * to read, never to change. The few nodes a guest must write are made its own ("n<id>"): where it
 * answers the toolstack (control/shutdown), advertises features (control/feature-*), and keeps its
 * own data (data, drivers, feature, attr, error). Its record under /vm/<uuid> is read-only to it too.
 */
import type { BuiltDomain } from "./host.ts";
import type { DomainConfig } from "./cfg.ts";

/** The part of the Xenstored API the toolstack writes with (it acts as dom0). */
export interface StoreWriter {
  write(path: string, value: string): void;
  mkdir(path: string): void;
  rm(path: string): void;
  setPerms(path: string, perms: string[]): void;
  tryRead(path: string): string | undefined;
}

export const domainPath = (domid: number) => `/local/domain/${domid}`;

export function writeDomainEntries(
  store: StoreWriter,
  domid: number,
  cfg: DomainConfig,
  built: BuiltDomain,
): void {
  const home = domainPath(domid);
  const vm = `/vm/${cfg.uuid}`;
  const readOnly = ["n0", `r${domid}`];
  const guestOwned = [`n${domid}`];
  for (const dir of [home, vm]) {
    if (store.tryRead(dir) !== undefined) store.rm(dir); // what a dead domain of this id left
    store.mkdir(dir);
    store.setPerms(dir, readOnly);
  }
  // Everything dom0 writes below inherits the home's list: readable by the guest, nothing more.
  const kv: [string, string][] = [
    ["vm", vm],
    ["name", cfg.name],
    ["domid", String(domid)],
    ["memory/static-max", String(cfg.maxmem * 1024)],
    ["memory/target", String(cfg.memory * 1024)],
    ["cpu/0/availability", "online"],
    ["console/ring-ref", String(built.consoleGfn)],
    ["console/port", String(built.consolePort)],
    ["console/type", "xenconsoled"],
    ["console/output", "pty"],
    ["store/ring-ref", String(built.storeGfn)],
    ["store/port", String(built.storePort)],
    ["control/platform-feature-multiprocessor-suspend", "1"],
  ];
  for (const [k, v] of kv) store.write(`${home}/${k}`, v);
  store.mkdir(`${home}/device`);
  for (const node of [
    "control/shutdown",
    "control/feature-poweroff",
    "control/feature-reboot",
    "control/feature-suspend",
    "control/sysrq",
    "data",
    "drivers",
    "feature",
    "attr",
    "error",
  ]) {
    store.mkdir(`${home}/${node}`);
    store.setPerms(`${home}/${node}`, guestOwned);
  }
  store.write(`${vm}/name`, cfg.name);
  store.write(`${vm}/uuid`, cfg.uuid);
  store.write(`${vm}/start_time`, (Date.now() / 1000).toFixed(2));
}

export function removeDomainEntries(store: StoreWriter, domid: number, uuid: string | undefined): void {
  store.rm(domainPath(domid));
  if (uuid) store.rm(`/vm/${uuid}`);
}

/**
 * A split device's two directories, as libxl writes them: the frontend's (the guest owns it, dom0
 * may read it) and the backend's (dom0 owns it, the guest may read it), each naming the other, with
 * `front` and `back` written in order. The backend's list should end with `state`: a backend starts
 * on a directory once it has one.
 */
export function writeDeviceDirs(
  store: StoreWriter,
  domid: number,
  dirs: { fe: string; be: string },
  front: [string, string][],
  back: [string, string][],
): void {
  store.mkdir(dirs.fe);
  store.setPerms(dirs.fe, [`n${domid}`, "r0"]);
  store.mkdir(dirs.be);
  store.setPerms(dirs.be, ["n0", `r${domid}`]);
  const frontKeys: [string, string][] = [["backend", dirs.be], ["backend-id", "0"], ...front];
  const backKeys: [string, string][] = [["frontend", dirs.fe], ["frontend-id", String(domid)], ...back];
  for (const [k, v] of frontKeys) store.write(`${dirs.fe}/${k}`, v);
  for (const [k, v] of backKeys) store.write(`${dirs.be}/${k}`, v);
}
