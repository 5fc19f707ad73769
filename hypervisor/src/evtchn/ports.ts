/**
 * One domain's event-channel port table: which ports are in use and what each is bound to.
 * Pure bookkeeping, no shared memory: EventChannels keeps it consistent across both ends of an
 * interdomain channel. Port 0 is reserved (as in Xen) and never handed out.
 */
import { NR_VIRQS } from "./consts.ts";

/** What a port is bound to (Xen's ECS_*; pirq is not supported). */
export type Channel =
  | { state: "unbound"; vcpu: number; remoteDom: number }
  | { state: "interdomain"; vcpu: number; remoteDom: number; remotePort: number }
  | { state: "virq"; vcpu: number; virq: number }
  | { state: "ipi"; vcpu: number };

/** The port table of one domain. */
export class PortTable {
  private readonly ports: (Channel | undefined)[] = [];
  /** virqPort[vcpu * NR_VIRQS + virq]: the port a VIRQ is bound to on a vCPU, or 0. */
  private readonly virqPort = new Map<number, number>();
  private used = 0;

  /** `limit`: one past the highest usable port (at most EVTCHN_2L_NR_CHANNELS). */
  constructor(readonly limit: number) {}

  /** Number of ports in use (port 0 not counted). */
  get count(): number {
    return this.used;
  }

  /** Whether `port` is a number this table could ever hold (1 <= port < limit). */
  valid(port: number): boolean {
    return Number.isInteger(port) && port > 0 && port < this.limit;
  }

  get(port: number): Channel | undefined {
    return this.valid(port) ? this.ports[port] : undefined;
  }

  /** The lowest free port, as Xen's get_free_port picks it, or 0 when the table is full. */
  freePort(): number {
    if (this.used >= this.limit - 1) return 0;
    for (let p = 1; p < this.limit; p++) if (this.ports[p] === undefined) return p;
    return 0;
  }

  /** Binds a free `port` (from freePort) to `ch`. */
  set(port: number, ch: Channel): void {
    if (this.ports[port] === undefined) this.used++;
    this.ports[port] = ch;
    if (ch.state === "virq") this.virqPort.set(ch.vcpu * NR_VIRQS + ch.virq, port);
  }

  /** Frees `port`; forgets its VIRQ binding. */
  free(port: number): void {
    const ch = this.ports[port];
    if (ch === undefined) return;
    if (ch.state === "virq") this.virqPort.delete(ch.vcpu * NR_VIRQS + ch.virq);
    this.ports[port] = undefined;
    this.used--;
  }

  /** The port VIRQ `virq` of `vcpu` is bound to, or 0. */
  virq(virq: number, vcpu: number): number {
    return this.virqPort.get(vcpu * NR_VIRQS + virq) ?? 0;
  }

  /** Every port in use, ascending. */
  *inUse(): IterableIterator<number> {
    for (let p = 1; p < this.ports.length; p++) if (this.ports[p] !== undefined) yield p;
  }
}
