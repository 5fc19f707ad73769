/**
 * A blkif frontend with no manners, for the hostile blkback test: it takes over one of its domain's
 * disks the way a restarted frontend would, then writes raw ring bytes — whatever the attack wants in
 * a slot — and reads each response's 16 bytes raw, so the test sees exactly what dom0 wrote.
 *
 * Taking over: the kernel's blkfront connected at boot, so the backend is Connected. We say Closing,
 * then Closed (the backend unmaps the kernel's ring and pages and says Closed too), then Initialising
 * (the backend offers the device again: InitWait). Then our own ring page, granted to dom0, and an
 * event channel for it: ring-ref, event-channel, protocol, Initialised; the backend maps them and
 * says Connected.
 *
 * The ring is io/ring.h's: a 64-byte header of free-running u32 indices (req_prod, req_event,
 * rsp_prod, rsp_event), then 32 slots of 112 bytes; a response is written over its request's slot.
 */
import type { KernelHandle, SharedPage } from "@pvkit/guest-kernel/kernel/program";

const REQ_PROD = 0;
const REQ_EVENT = 1;
const RSP_PROD = 2;
const RSP_EVENT = 3;
export const RING_ENTRIES = 32;
export const SLOT_BYTES = 112;
const HEADER_BYTES = 64;

/** One response as it lay in the ring, with the fields the test checks. */
export interface RawResponse {
  id: bigint;
  operation: number;
  status: number;
  /** The padding bytes (9 and 12..15) are zero: nothing left over from the request or elsewhere. */
  clean: boolean;
}

/** Resolves with the backend's state once `ok` holds for it. */
async function backendReaches(k: KernelHandle, be: string, ok: (s: number) => boolean): Promise<number> {
  let done: (s: number) => void = () => undefined;
  const reached = new Promise<number>((r) => (done = r));
  const unwatch = await k.xenstore.watch(`${be}/state`, () => {
    void k.xenstore.tryRead(`${be}/state`).then((v) => {
      const s = Number(v);
      if (v !== undefined && ok(s)) done(s);
    });
  });
  const s = await reached;
  await unwatch();
  return s;
}

export class RawFront {
  private prod = 0;
  private cons = 0;
  private wake: (() => void) | undefined;
  private readonly idx: Int32Array;
  private readonly bytes: Uint8Array;
  port = -1;

  private constructor(
    private readonly k: KernelHandle,
    readonly ring: SharedPage,
    /** Our directory (device/vbd/<id>) and the backend's. */
    readonly fe: string,
    readonly be: string,
    readonly sectors: number,
  ) {
    this.idx = new Int32Array(ring.view.buffer, ring.view.byteOffset, 4);
    this.bytes = new Uint8Array(ring.view.buffer, ring.view.byteOffset, 4096);
  }

  /** Takes disk `id` (its vbd number) away from the kernel's blkfront and connects our own ring. */
  static async takeOver(k: KernelHandle, id: number): Promise<RawFront> {
    const fe = `device/vbd/${id}`;
    const be = await k.xenstore.read(`${fe}/backend`);
    const sectors = Number(await k.xenstore.read(`${be}/sectors`));
    await k.xenstore.write(`${fe}/state`, "5"); // Closing
    await k.xenstore.write(`${fe}/state`, "6"); // Closed
    await backendReaches(k, be, (s) => s === 6);
    await k.xenstore.write(`${fe}/state`, "1"); // Initialising: a frontend that starts over
    await backendReaches(k, be, (s) => s === 2);

    const front = new RawFront(k, k.grants.share(0), fe, be, sectors);
    Atomics.store(front.idx, REQ_EVENT, 1);
    Atomics.store(front.idx, RSP_EVENT, 1);
    front.port = k.events.allocUnbound(0, () => front.wake?.());
    for (const key of ["ring-page-order", "num-ring-pages"]) {
      if ((await k.xenstore.tryRead(`${fe}/${key}`)) !== undefined) await k.xenstore.rm(`${fe}/${key}`);
    }
    await k.xenstore.write(`${fe}/ring-ref`, String(front.ring.ref));
    await k.xenstore.write(`${fe}/event-channel`, String(front.port));
    await k.xenstore.write(`${fe}/protocol`, "x86_64-abi");
    await k.xenstore.write(`${fe}/state`, "3"); // Initialised
    await backendReaches(k, be, (s) => s === 4);
    await k.xenstore.write(`${fe}/state`, "4");
    return front;
  }

  /** The next request slot, as a view and the offset of its first byte. */
  nextSlot(): { view: DataView; off: number } {
    return { view: this.ring.view, off: HEADER_BYTES + (this.prod % RING_ENTRIES) * SLOT_BYTES };
  }

  /** Publishes the slot nextSlot() named and kicks the backend. */
  push(): void {
    this.prod = (this.prod + 1) >>> 0;
    Atomics.store(this.idx, REQ_PROD, this.prod | 0);
    this.k.events.notify(this.port);
  }

  /** Lies: publishes a producer index `ahead` slots past what we wrote. */
  pushAhead(ahead: number): void {
    Atomics.store(this.idx, REQ_PROD, (this.prod + ahead) | 0);
    this.k.events.notify(this.port);
  }

  /** Whether a response we have not taken yet is on the ring. */
  answered(): boolean {
    return Atomics.load(this.idx, RSP_PROD) >>> 0 !== this.cons;
  }

  /** Fills the next slot with `fill`, publishes it, and waits for its response. */
  async send(fill: (view: DataView, off: number) => void): Promise<RawResponse> {
    const { view, off } = this.nextSlot();
    fill(view, off);
    this.push();
    return this.response();
  }

  /** Waits for the next response (event-driven: rsp_event asks the backend to kick us). */
  async response(): Promise<RawResponse> {
    for (;;) {
      const kicked = new Promise<void>((r) => (this.wake = r));
      Atomics.store(this.idx, RSP_EVENT, (this.cons + 1) | 0);
      if (this.answered()) break;
      await kicked;
    }
    const off = HEADER_BYTES + (this.cons % RING_ENTRIES) * SLOT_BYTES;
    const raw = this.bytes.slice(off, off + 16); // copied once, then read
    this.cons = (this.cons + 1) >>> 0;
    const v = new DataView(raw.buffer);
    return {
      id: v.getBigUint64(0, true),
      operation: v.getUint8(8),
      status: v.getInt16(10, true),
      clean: raw[9] === 0 && raw.subarray(12, 16).every((b) => b === 0),
    };
  }
}

/** A page of ours lent to `domid`, filled with `byte`, and its bytes. */
export function filledPage(k: KernelHandle, domid: number, byte: number, readonly = false) {
  const page = k.grants.share(domid, { readonly });
  const bytes = new Uint8Array(page.view.buffer, page.view.byteOffset, 4096);
  bytes.fill(byte);
  return { ref: page.ref, bytes };
}
