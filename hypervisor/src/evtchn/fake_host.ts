/**
 * A test host for EventChannels: domains with real SharedArrayBuffer shared_info pages and no
 * workers. It records kicks and pending notifications so tests can assert on them.
 * Rule: for tests and benchmarks only; the real host is the core hypervisor's domain table.
 */
import type { EvtchnHost } from "./host.ts";

/** One fake domain: its vCPU count and shared_info page. */
export interface FakeDomain {
  vcpus: number;
  page: DataView;
}

/** An in-memory EvtchnHost. */
export class FakeEvtchnHost implements EvtchnHost {
  readonly domains = new Map<number, FakeDomain>();
  /** Every kick(domid, vcpu), in order. */
  readonly kicks: [number, number][] = [];
  /** Every portPending(domid, port), in order. */
  readonly pendings: [number, number][] = [];
  /** Called on kick, after recording it (a benchmark wakes its waiter here). */
  onKick: (domid: number, vcpu: number) => void = () => undefined;

  /** Adds a domain with a fresh zeroed shared_info page; returns the page. */
  addDomain(domid: number, vcpus = 1): DataView {
    const page = new DataView(new SharedArrayBuffer(4096));
    this.domains.set(domid, { vcpus, page });
    return page;
  }

  domainExists(domid: number): boolean {
    return this.domains.has(domid);
  }
  vcpuCount(domid: number): number {
    return this.domains.get(domid)?.vcpus ?? 0;
  }
  sharedInfo(domid: number): DataView {
    const d = this.domains.get(domid);
    if (d === undefined) throw new Error(`no domain ${domid}`);
    return d.page;
  }
  kick(domid: number, vcpu: number): void {
    this.kicks.push([domid, vcpu]);
    this.onKick(domid, vcpu);
  }
  portPending(domid: number, port: number): void {
    this.pendings.push([domid, port]);
  }
}
