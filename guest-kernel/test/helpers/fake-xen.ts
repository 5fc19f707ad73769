/**
 * A stand-in for the hypervisor's side of the kernel's XenOps, good enough for unit tests: it
 * marks ports pending in a shared_info page exactly as Xen's 2-level code does, keeps a virtual
 * clock, and records what the kernel asked for.
 */
import { GrantError, type GrantCopyOp, type GrantMapOp, type XenOps } from "../../src/kernel/hypervisor.ts";
import { SHARED_INFO, VCPU_INFO } from "../../src/kernel/xen.ts";

export class FakeXen implements XenOps {
  readonly shared = new DataView(new SharedArrayBuffer(4096));
  private readonly words = new BigUint64Array(this.shared.buffer);
  private nextPort = 20; // below 20: ports a test assigns itself
  readonly sent: number[] = [];
  readonly console: string[] = [];
  readonly closed: number[] = [];
  timer = 0n;
  shutdownReason: number | null = null;
  blocks = 0;
  /** Called for every EVTCHNOP_send (to wire a peer). */
  onSend: (port: number) => void = () => undefined;
  /** What block() waits for; default: resolve at once. */
  onBlock: () => Promise<void> = () => Promise.resolve();
  readonly virqs = new Map<number, number>();
  populated: number[] = [];
  released: number[] = [];
  /** Frames the fake will still hand out on populate (the domain's quota headroom). */
  headroom = Infinity;

  /** evtchn_set_pending: set the bit; unless masked, flag the word and the vCPU. */
  raise(port: number, vcpu = 0): void {
    const w = Math.floor(port / 64);
    const bit = 1n << BigInt(port % 64);
    const old = Atomics.or(this.words, SHARED_INFO.evtchnPending / 8 + w, bit);
    if (old & bit) return;
    if (Atomics.load(this.words, SHARED_INFO.evtchnMask / 8 + w) & bit) return;
    Atomics.or(this.words, (vcpu * VCPU_INFO.size + VCPU_INFO.pendingSel) / 8, 1n << BigInt(w));
    new Uint8Array(this.shared.buffer)[vcpu * VCPU_INFO.size + VCPU_INFO.upcallPending] = 1;
    this.wake();
  }

  private waiter: (() => void) | null = null;
  private timerHandle: ReturnType<typeof setTimeout> | undefined;
  private t0 = 0n;
  private liveClock = false;

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /**
   * Behave like a running hypervisor: publish a vcpu_time_info record (1 tick = 1 ns of the
   * host counter), make block() wait for an event, and fire VIRQ_TIMER at set_timer_op deadlines.
   */
  live(): this {
    this.t0 = process.hrtime.bigint();
    const v = this.shared;
    v.setUint32(32, 2, true);
    v.setBigUint64(40, this.t0, true);
    v.setBigUint64(48, 0n, true);
    v.setUint32(56, 0x80000000, true);
    v.setInt8(60, 1);
    this.liveClock = true;
    this.onBlock = () =>
      new Promise<void>((r) => {
        if (new Uint8Array(this.shared.buffer)[VCPU_INFO.upcallPending]) r();
        else this.waiter = r;
      });
    return this;
  }

  /** Stops the timer (end of test). */
  dispose(): void {
    clearTimeout(this.timerHandle);
    this.wake();
  }

  isMasked(port: number): boolean {
    const bit = 1n << BigInt(port % 64);
    return (Atomics.load(this.words, SHARED_INFO.evtchnMask / 8 + Math.floor(port / 64)) & bit) !== 0n;
  }

  evtchnSend(port: number): void {
    this.sent.push(port);
    // An IPI port loops back to this domain's own vCPU, as Xen's does.
    if (this.ipis.has(port)) this.raise(port);
    else this.onSend(port);
  }
  private readonly ipis = new Set<number>();
  /** Ports passed to EVTCHNOP_unmask, in order. */
  readonly unmasked: number[] = [];
  evtchnUnmask(port: number): void {
    this.unmasked.push(port);
    const w = Math.floor(port / 64);
    const bit = 1n << BigInt(port % 64);
    Atomics.and(this.words, SHARED_INFO.evtchnMask / 8 + w, ~bit & 0xffffffffffffffffn);
    if (Atomics.load(this.words, SHARED_INFO.evtchnPending / 8 + w) & bit) {
      Atomics.or(this.words, VCPU_INFO.pendingSel / 8, 1n << BigInt(w));
      new Uint8Array(this.shared.buffer)[VCPU_INFO.upcallPending] = 1;
    }
  }
  evtchnClose(port: number): void {
    this.closed.push(port);
  }
  evtchnBindVirq(virq: number): number {
    const p = this.nextPort++;
    this.virqs.set(virq, p);
    return p;
  }
  evtchnBindIpi(): number {
    this.ipis.add(this.nextPort);
    return this.nextPort++;
  }
  evtchnAllocUnbound(): number {
    return this.nextPort++;
  }
  evtchnBindInterdomain(): number {
    return this.nextPort++;
  }
  async block(): Promise<void> {
    this.blocks++;
    await this.onBlock();
  }
  yield(): void {}
  shutdown(reason: number): void {
    this.shutdownReason = reason;
  }
  setTimer(deadline: bigint): void {
    this.timer = deadline;
    if (!this.liveClock) return;
    clearTimeout(this.timerHandle);
    if (deadline === 0n) return;
    const now = process.hrtime.bigint() - this.t0;
    const ms = Number(deadline > now ? deadline - now : 0n) / 1e6;
    this.timerHandle = setTimeout(() => {
      const port = this.virqs.get(0);
      if (port !== undefined) this.raise(port);
    }, Math.ceil(ms));
  }
  consoleWrite(bytes: Uint8Array): void {
    this.console.push(new TextDecoder().decode(bytes));
  }
  populatePhysmap(pfns: number[]): number {
    const n = Math.min(pfns.length, this.headroom);
    this.headroom -= n;
    this.populated.push(...pfns.slice(0, n));
    return n;
  }
  gnttabSetupTable(nrFrames: number): number[] {
    return Array.from({ length: nrFrames }, (_, i) => 0x10000 + i);
  }
  /** Every grant map (`domid:ref@addr`), unmap (handle) and copy the kernel asked for. */
  readonly grantOps: string[] = [];
  /** Grants a "peer" offers: `domid:ref` → readonly allowed? Anything else is GNTST_bad_gntref (-3). */
  readonly peerGrants = new Map<string, { readonly: boolean }>();
  gnttabMap(domid: number, ref: number, hostAddr: bigint, readonly: boolean): number {
    const g = this.peerGrants.get(`${domid}:${ref}`);
    if (!g) throw new GrantError(`map grant ${ref} of domain ${domid}`, -3, "GNTST_bad_gntref");
    if (g.readonly && !readonly) {
      throw new GrantError(`map grant ${ref} of domain ${domid}`, -8, "GNTST_permission_denied");
    }
    this.grantOps.push(`map ${domid}:${ref}@${hostAddr}`);
    return this.grantOps.length;
  }
  gnttabMapBatch(ops: readonly GrantMapOp[]): (number | GrantError)[] {
    return ops.map((o) => {
      try {
        return this.gnttabMap(o.domid, o.ref, o.hostAddr, o.readonly);
      } catch (e) {
        return e as GrantError;
      }
    });
  }
  gnttabUnmap(_hostAddr: bigint, handle: number): void {
    this.grantOps.push(`unmap ${handle}`);
  }
  gnttabCopy(op: GrantCopyOp): void {
    this.grantOps.push(`copy ${JSON.stringify(op)}`);
  }
  decreaseReservation(pfns: number[]): number {
    this.released.push(...pfns);
    this.headroom += pfns.length;
    return pfns.length;
  }
}
