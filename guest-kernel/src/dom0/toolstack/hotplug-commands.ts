/**
 * The toolstack's hotplug commands: `xl block-attach`/`block-detach` (disk-hotplug.ts) and
 * `xl network-attach`/`network-detach` (vif-hotplug.ts) on a running domU. What the guest or the
 * user got wrong comes back as one ToolstackError line, "<command> <domain>: <why>"; each device
 * added or taken is reported to `keep`, which records it in the config a reboot recreates the
 * domain from (as libxl keeps hotplugged devices in its domain config).
 */
import type { DomainConfig } from "./cfg.ts";
import { HotplugError, type HotplugStore } from "./device-hotplug.ts";
import { attachDisk, detachDisk } from "./disk-hotplug.ts";
import { ToolstackError } from "./toolstack-error.ts";
import { attachVif, detachVif } from "./vif-hotplug.ts";

/** Runs a hotplug step; what it refuses (at once, or when its promise settles) becomes "<what>: <why>". */
function refusal<T>(what: string, step: () => T): T {
  const said = (e: unknown) => (e instanceof HotplugError ? new ToolstackError(`${what}: ${e.message}`) : e);
  try {
    const r = step();
    return r instanceof Promise
      ? (r.catch((e: unknown) => {
          throw said(e);
        }) as T)
      : r;
  } catch (e) {
    throw said(e);
  }
}

/**
 * A detach whose domain ended while it waited for the guest: nothing is left to detach from, and a
 * reboot has brought the domain back with the device (its config still had it).
 */
const gone = (what: string) =>
  new ToolstackError(`${what}: the domain shut down, rebooted or was destroyed while it waited`);

export class HotplugCommands {
  constructor(
    private readonly store: HotplugStore,
    /** A domU's id from its name or id (the toolstack's: dom0 and unknown names refused). */
    private readonly guest: (domain: string) => number,
    /** Records a change of the domain's devices in its kept config; false when it is gone. */
    private readonly keep: (domid: number, change: (cfg: DomainConfig) => DomainConfig) => boolean,
  ) {}

  // An attached device is kept as soon as its directories are written (as libxl updates its
  // config as it writes xenstore), so a detach that comes while the attach still waits for the
  // guest takes it out of the config too; a detached one once it is gone (a refused detach keeps it).

  /** Disk `spec` (a cfg `disk` entry; a relative target is taken from `cwd`) into a running domU. */
  async blockAttach(
    domain: string,
    spec: string,
    cwd: string,
  ): Promise<{ vdev: string; connected: boolean }> {
    const domid = this.guest(domain);
    const { disk, connected } = refusal(`block-attach ${domain}`, () =>
      attachDisk(this.store, domid, spec, cwd),
    );
    this.keep(domid, (c) => ({ ...c, disks: [...c.disks.filter((d) => d.vdev !== disk.vdev), disk] }));
    return { vdev: disk.vdev, connected: await connected };
  }

  /** Disk `name` (xvdb) out of a running domU. */
  async blockDetach(domain: string, name: string, force: boolean): Promise<void> {
    const domid = this.guest(domain);
    const what = `block-detach ${domain} ${name}`;
    await refusal(what, () => detachDisk(this.store, domid, name, force));
    if (!this.keep(domid, (c) => ({ ...c, disks: c.disks.filter((d) => d.vdev !== name) }))) throw gone(what);
  }

  /** Vif `spec` (a cfg `vif` entry) into a running domU. */
  async networkAttach(
    domain: string,
    spec: string,
  ): Promise<{ devid: number; mac: string; connected: boolean }> {
    const domid = this.guest(domain);
    const { vif, connected } = refusal(`network-attach ${domain}`, () => attachVif(this.store, domid, spec));
    this.keep(domid, (c) => ({ ...c, vifs: [...c.vifs.filter((v) => v.devid !== vif.devid), vif] }));
    return { devid: vif.devid, mac: vif.mac, connected: await connected };
  }

  /** The vif with device id or MAC `which` out of a running domU. */
  async networkDetach(domain: string, which: string, force: boolean): Promise<void> {
    const domid = this.guest(domain);
    const what = `network-detach ${domain} ${which}`;
    const devid = await refusal(what, () => detachVif(this.store, domid, which, force));
    if (!this.keep(domid, (c) => ({ ...c, vifs: c.vifs.filter((v) => v.devid !== devid) }))) throw gone(what);
  }
}
