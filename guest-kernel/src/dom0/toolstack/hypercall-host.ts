/**
 * ToolstackHost over real hypercalls: what dom0's kernel does on the toolstack's behalf, each call a
 * typed stub of the generated SDK. Strings and lists travel through one page of dom0's own memory
 * (`buffer`), as libxc uses bounce buffers; granted guest pages are mapped with the kernel's own
 * grant API (`grants.map`, kernel/sharing.ts), the one guest programs use.
 */
import type { Hypercalls } from "@pvkit/abi/guest";
import {
  DOMID_XEN,
  PVKIT_SET_KERNEL_INSPECT,
  PVKIT_SET_KERNEL_INSPECT_BRK,
  VIRQ_DOM_EXC,
  XEN_DOMINF_blocked,
  XEN_DOMINF_dying,
  XEN_DOMINF_paused,
  XEN_DOMINF_running,
  XEN_DOMINF_shutdown,
  XEN_DOMINF_shutdownmask,
  XEN_DOMINF_shutdownshift,
  XenDomctlGetdomaininfo,
} from "@pvkit/abi/layout";
import { existsSync } from "node:fs";
import type { ProgramGrants } from "../../kernel/sharing.ts";
import type {
  BoundPort,
  BuiltDomain,
  DomainInfo,
  MappedPage,
  PhysInfo,
  PoolInfo,
  ToolstackHost,
} from "./host.ts";

const PAGE = 4096;

/** One page of dom0 memory for bounce buffers. */
export interface BouncePage {
  addr: number;
  write(addr: number, bytes: Uint8Array): void;
  read(addr: number, len: number): Uint8Array;
}

/** dom0's event channels (the kernel's Events). */
export interface EventPorts {
  bindInterdomain(remoteDom: number, remotePort: number, handler: (port: number) => void): number;
  bindVirq(virq: number, handler: (port: number) => void): number;
  notify(port: number): void;
  close(port: number): void;
}

export class HypercallHost implements ToolstackHost {
  private readonly enc = new TextEncoder();

  constructor(
    private readonly hc: Hypercalls,
    private readonly buffer: BouncePage,
    private readonly grants: Pick<ProgramGrants, "map">,
    private readonly events: EventPorts,
  ) {}

  physinfo(): PhysInfo {
    const p = this.hc.sysctl.physinfo({});
    return { nrCpus: p.nr_cpus, totalPages: Number(p.total_pages), freePages: Number(p.free_pages) };
  }

  poolInfo(): PoolInfo {
    const p = this.hc.pvkitOp.poolInfo({});
    return { size: p.size, ready: p.ready, served: Number(p.served), cold: Number(p.cold) };
  }

  createDomain(domid: number, opts: { maxMemKiB: number; vcpus: number }): void {
    this.hc.domctl.createdomain(domid, {
      ssidref: 0,
      handle: new Uint8Array(16),
      flags: 0,
      max_vcpus: opts.vcpus,
      max_evtchn_port: 4095,
      max_grant_frames: 32,
      max_maptrack_frames: 1024,
    });
    this.hc.domctl.maxVcpus(domid, { max: opts.vcpus });
    this.hc.domctl.maxMem(domid, { max_memkb: BigInt(opts.maxMemKiB) });
  }

  setKernel(
    domid: number,
    kernelUrl: string,
    cmdline: string,
    inspect: boolean,
    waitForDebugger = false,
  ): { inspectorPort?: number } {
    const url = this.enc.encode(kernelUrl);
    const cmd = this.enc.encode(cmdline).subarray(0, 1023);
    if (url.length + cmd.length > PAGE) throw new Error(`kernel URL too long: ${kernelUrl}`);
    this.buffer.write(this.buffer.addr, url);
    this.buffer.write(this.buffer.addr + url.length, cmd);
    const r = this.hc.pvkitOp.setKernel({
      domid,
      kernel_len: url.length,
      cmdline_len: cmd.length,
      flags: inspect ? PVKIT_SET_KERNEL_INSPECT | (waitForDebugger ? PVKIT_SET_KERNEL_INSPECT_BRK : 0) : 0,
      kernel: BigInt(this.buffer.addr),
      cmdline: BigInt(this.buffer.addr + url.length),
    });
    return r.inspector_port ? { inspectorPort: r.inspector_port } : {};
  }

  build(domid: number, nrPages: number): BuiltDomain {
    const r = this.hc.pvkitOp.build({
      domid,
      store_domid: 0,
      console_domid: 0,
      pad: 0,
      nr_pages: BigInt(nrPages),
    });
    return {
      storeGfn: r.store_gfn,
      consoleGfn: r.console_gfn,
      storePort: r.store_port,
      consolePort: r.console_port,
    };
  }

  pause(domid: number): void {
    this.hc.domctl.pausedomain(domid);
  }

  unpause(domid: number): void {
    this.hc.domctl.unpausedomain(domid);
  }

  destroy(domid: number): void {
    this.hc.domctl.destroydomain(domid);
  }

  setMaxMem(domid: number, maxMemKiB: number): void {
    this.hc.domctl.maxMem(domid, { max_memkb: BigInt(maxMemKiB) });
  }

  kernelExists(path: string): boolean {
    return existsSync(path); // dom0 reads the host's files
  }

  list(): DomainInfo[] {
    const size = XenDomctlGetdomaininfo.size;
    const max = Math.floor(PAGE / size);
    const out: DomainInfo[] = [];
    let first = 0;
    for (;;) {
      const r = this.hc.sysctl.getdomaininfolist({
        first_domain: first,
        max_domains: max,
        buffer: BigInt(this.buffer.addr),
      });
      const bytes = this.buffer.read(this.buffer.addr, r.num_domains * size);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < r.num_domains; i++) out.push(toInfo(XenDomctlGetdomaininfo.decode(view, i * size)));
      if (r.num_domains < max) return out;
      first = out[out.length - 1]!.domid + 1;
    }
  }

  domainStats(domid: number): { hypercalls: number; events: number } {
    const r = this.hc.pvkitOp.domainStats({ domid });
    return { hypercalls: Number(r.hypercalls), events: Number(r.events_sent) };
  }

  mapGrant(domid: number, ref: number): MappedPage {
    return this.grants.map(domid, ref);
  }

  bindInterdomain(domid: number, remotePort: number, onEvent: () => void): BoundPort {
    const localPort = this.events.bindInterdomain(domid, remotePort, () => onEvent());
    return {
      localPort,
      notify: () => this.events.notify(localPort),
      close: () => this.events.close(localPort),
    };
  }

  onDomainException(cb: () => void): void {
    this.events.bindVirq(VIRQ_DOM_EXC, () => cb());
  }

  consoleLog(domid: number): string {
    // A page at a time, from the oldest byte kept, until a read comes back short: the log is longer
    // than one page once a host has run for a while, and its newest lines are the ones wanted.
    const chunks: Uint8Array[] = [];
    let cons = 0n;
    for (let i = 0; i < 1024; i++) {
      const r = this.hc.pvkitOp.consoleRead({
        domid: domid === 0x7ff2 ? DOMID_XEN : domid,
        len: PAGE,
        buffer: BigInt(this.buffer.addr),
        cons,
      });
      chunks.push(this.buffer.read(this.buffer.addr, r.count));
      cons = r.cons;
      if (r.count < PAGE) break;
    }
    return new TextDecoder().decode(Buffer.concat(chunks));
  }
}

function toInfo(d: XenDomctlGetdomaininfo): DomainInfo {
  const shutdown = (d.flags & XEN_DOMINF_shutdown) !== 0;
  const reason = (d.flags >>> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;
  return {
    domid: d.domain,
    pages: Number(d.tot_pages),
    maxPages: Number(d.max_pages),
    vcpus: d.nr_online_vcpus,
    cpuTimeNs: d.cpu_time,
    running: (d.flags & XEN_DOMINF_running) !== 0,
    blocked: (d.flags & XEN_DOMINF_blocked) !== 0,
    paused: (d.flags & XEN_DOMINF_paused) !== 0,
    dying: (d.flags & XEN_DOMINF_dying) !== 0,
    shutdown,
    shutdownReason: shutdown ? reason : 0,
    crashed: shutdown && reason === 3,
  };
}
