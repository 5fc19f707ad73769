/**
 * `pvkit list -l`'s record of one domain: the xl.cfg it was created with, as the toolstack parsed it,
 * beside what the hypervisor says of it now. xl prints libxl's domain config (c_info, b_info, disks,
 * nics, on_*); pvkit keeps the file's own keys, so a record reads like the file that made it.
 */
import { shutdownReasonName } from "@pvkit/abi";
import type { DomainRecord, DomainSummary } from "@pvkit/abi/toolstack-protocol";
import type { DomainConfig } from "./cfg.ts";
import type { DomainInfo } from "./host.ts";

const PAGES_PER_MIB = 256;

/** `summary` is the domain's `list` entry; `cfg` what it was created from (none for dom0). */
export function domainRecord(summary: DomainSummary, info: DomainInfo, cfg?: DomainConfig): DomainRecord {
  const runtime: DomainRecord["runtime"] = {
    name: summary.name,
    state: "rbpscd"
      .split("")
      .map((c) => (summary.state.includes(c) ? c : "-"))
      .join(""),
    cpu_time: summary.time,
    memory: summary.memory,
    maxmem: Math.round(info.maxPages / PAGES_PER_MIB),
    online_vcpus: info.vcpus,
  };
  if (info.shutdown) runtime.shutdown_reason = shutdownReasonName(info.shutdownReason);
  return { domid: info.domid, config: cfg ? configRecord(cfg) : null, runtime };
}

function configRecord(cfg: DomainConfig): NonNullable<DomainRecord["config"]> {
  return {
    file: cfg.file,
    name: cfg.name,
    uuid: cfg.uuid,
    type: "pv",
    kernel: cfg.kernel,
    memory: cfg.memory,
    maxmem: cfg.maxmem,
    vcpus: cfg.vcpus,
    on_poweroff: cfg.onPoweroff,
    on_reboot: cfg.onReboot,
    on_crash: cfg.onCrash,
    extra: cfg.extra,
    disk: cfg.disks.map((d) => ({ ...d })),
    vif: cfg.vifs.map((v) => ({ ...v })),
    inspect: cfg.inspect,
  };
}

/** xl's state letters. */
export function stateLetters(d: DomainInfo): string {
  let s = "";
  if (d.running) s += "r";
  if (d.blocked) s += "b";
  if (d.paused) s += "p";
  if (d.shutdown) s += "s";
  if (d.crashed) s += "c";
  if (d.dying) s += "d";
  return s;
}
