/**
 * The xenstore entries a new domain gets, as xl writes them: its home /local/domain/<id> (owned by
 * the domain, readable by dom0), the toolstack's record under /vm/<uuid>, and the console and store
 * details the guest's kernel and dom0's daemons read.
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
  // The guest owns its home; dom0 may read it (Xen: "n<domid>", "r0").
  store.mkdir(home);
  store.setPerms(home, [`n${domid}`, "r0"]);
  const kv: [string, string][] = [
    ["name", cfg.name],
    ["domid", String(domid)],
    ["vm", vm],
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
  // control/shutdown is where the toolstack asks and the guest listens: the guest must be able to
  // write it (to acknowledge by clearing it), so it keeps the home's ownership.
  store.write(`${home}/control/shutdown`, "");
  store.write(`${home}/device`, "");
  store.write(`${home}/data`, "");
  // memory/target is the toolstack's to set: the guest may read it but not write it.
  store.setPerms(`${home}/memory/target`, ["n0", `r${domid}`]);
  store.write(`${vm}/name`, cfg.name);
  store.write(`${vm}/uuid`, cfg.uuid);
  store.write(`${vm}/start_time`, (Date.now() / 1000).toFixed(2));
}

export function removeDomainEntries(store: StoreWriter, domid: number, uuid: string | undefined): void {
  store.rm(domainPath(domid));
  if (uuid) store.rm(`/vm/${uuid}`);
}
