/**
 * blkback's data path for one connected frontend: take requests off the ring, check them
 * (back-request.ts), do the host I/O straight into the frontend's persistently mapped pages, and
 * answer each with its id and a status. Requests run concurrently and may complete out of order, as
 * blkif allows. A flush waits for the writes received before it, then fdatasyncs. A read the host's
 * page cache answers at once is published at once, before the next request's copy, so the frontend
 * works while the backend copies; responses that complete together later are published together.
 * The frontend is notified only when it asked (rsp_event). A ring whose producer index lies is not
 * followed: the device is disconnected and every other device keeps being served.
 */
import type { BlkifRequest, BlkifResponse } from "@pvkit/abi/layout";
import { BLKIF_RSP_ERROR, BLKIF_RSP_OKAY } from "@pvkit/abi/layout";
import type { BackRing } from "../ring.ts";
import { type BlkRequest, type DiskLimits, type Segment, parseRequest } from "./back-request.ts";
import type { PersistentGrants } from "./back-grants.ts";
import { PAGE_SIZE, SECTOR_BYTES, SECTORS_PER_PAGE } from "./protocol.ts";
import type { BlockStore } from "./store.ts";

export interface BackStats {
  requests: number;
  refused: number;
  failed: number;
  readBytes: number;
  writtenBytes: number;
  notifies: number;
}

export interface BlkbackRingDeps {
  ring: BackRing<BlkifRequest, BlkifResponse>;
  disk: DiskLimits;
  store: BlockStore;
  grants: PersistentGrants;
  /** Kicks the frontend's event channel. */
  notify(): void;
  /** A line for dom0's log (refusals are counted, and logged a bounded number of times). */
  log(line: string): void;
  /** The ring cannot be trusted any more; the caller disconnects the device. */
  onCorrupt(why: string): void;
}

/** How many refusals of one device are logged before the log goes quiet (they are still counted). */
const LOGGED_REFUSALS = 10;

export class BlkbackRing {
  readonly stats: BackStats = {
    requests: 0,
    refused: 0,
    failed: 0,
    readBytes: 0,
    writtenBytes: 0,
    notifies: 0,
  };
  private dead = false;
  private readonly writes = new Set<Promise<void>>();
  private readonly inflight = new Set<Promise<void>>();
  private publishQueued = false;
  /** respondNow() notified in this turn; it owes one more at the turn's end (endOfTurn). */
  private toldThisTurn = false;
  private owed = false;

  constructor(private readonly d: BlkbackRingDeps) {}

  /** The frontend kicked us (or we are starting): serve everything on the ring. */
  kick(): void {
    if (this.dead) return;
    let slots: Uint8Array[];
    try {
      slots = this.d.ring.takeRequestBytes();
    } catch (e) {
      this.dead = true;
      this.d.onCorrupt(e instanceof Error ? e.message : String(e));
      return;
    }
    for (const slot of slots) {
      this.stats.requests++;
      const req = parseRequest(slot, this.d.disk, (ref) => this.d.grants.copy(ref));
      const p = this.serve(req);
      this.inflight.add(p);
      void p.finally(() => this.inflight.delete(p));
    }
  }

  /** Stops answering and waits for the I/O in flight (before the grants are unmapped). */
  async stop(): Promise<void> {
    this.dead = true;
    await Promise.allSettled([...this.inflight]);
  }

  private async serve(req: BlkRequest): Promise<void> {
    switch (req.kind) {
      case "refuse":
        this.stats.refused++;
        if (this.stats.refused <= LOGGED_REFUSALS)
          this.d.log(
            `request ${req.id} refused: ${req.why}${this.stats.refused === LOGGED_REFUSALS ? " (further refusals not logged)" : ""}`,
          );
        return this.respond(req.id, req.operation, req.status);
      case "rw":
        return this.rw(req);
      case "flush": {
        const before = [...this.writes];
        return this.finish(
          req.id,
          req.operation,
          Promise.allSettled(before).then(() => this.d.store.flush()),
        );
      }
      case "discard":
        return this.finish(
          req.id,
          req.operation,
          this.d.store.discard(req.sector * SECTOR_BYTES, req.count * SECTOR_BYTES),
        );
    }
  }

  private async rw(req: Extract<BlkRequest, { kind: "rw" }>): Promise<void> {
    // Every page of the request held at once; pages not mapped yet are mapped in one batch.
    const held = req.segments.map((s) => s.gref);
    const pages = this.d.grants.acquireAll(held);
    if (!pages) {
      this.stats.refused++;
      return this.respond(req.id, req.operation, BLKIF_RSP_ERROR);
    }
    const bufs: Uint8Array[] = new Array<Uint8Array>(pages.length);
    let bytes = 0;
    for (let i = 0; i < pages.length; i++) {
      const s = req.segments[i]!;
      bufs[i] = segmentBytes(pages[i]!, s);
      bytes += (s.last - s.first + 1) * SECTOR_BYTES;
    }
    const pos = req.sector * SECTOR_BYTES;
    let io: Promise<void> | undefined;
    try {
      io = req.write ? this.d.store.writev(bufs, pos) : this.d.store.readv(bufs, pos);
    } catch (e) {
      io = Promise.reject(e); // a store that throws at once fails the request as one that rejects
    }
    if (io === undefined) {
      // Read already (the host's page cache held it): answered and published now, not after the
      // rest of the ring's requests are copied, so the frontend works on it meanwhile.
      for (const r of held) this.d.grants.release(r);
      this.stats.readBytes += bytes;
      this.respondNow(req.id, req.operation, BLKIF_RSP_OKAY);
      return;
    }
    if (req.write) {
      this.writes.add(io);
      void io.catch(() => undefined).finally(() => this.writes.delete(io));
    }
    try {
      await this.finish(req.id, req.operation, io);
      if (req.write) this.stats.writtenBytes += bytes;
      else this.stats.readBytes += bytes;
    } finally {
      for (const r of held) this.d.grants.release(r);
    }
  }

  private async finish(id: bigint, operation: number, io: Promise<unknown>): Promise<void> {
    let status = BLKIF_RSP_OKAY;
    try {
      await io;
    } catch (e) {
      status = BLKIF_RSP_ERROR;
      this.stats.failed++;
      if (this.stats.failed <= LOGGED_REFUSALS)
        this.d.log(`request ${id} failed on the host: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.respond(id, operation, status);
  }

  /**
   * Publishes a response at once, with any queued before it. The frontend is notified at once the
   * first time in a turn that it asked (rsp_event); later asks in the same turn are answered once,
   * at its end: a frontend that asks after every response gets two events a turn, not one each.
   */
  private respondNow(id: bigint, operation: number, status: number): void {
    if (this.dead) return;
    this.d.ring.put({ id, operation, status });
    if (this.d.ring.pushResponses()) {
      if (this.toldThisTurn) this.owed = true;
      else {
        this.toldThisTurn = true;
        this.stats.notifies++;
        this.d.notify();
      }
    }
    this.endOfTurn();
  }

  /** Queues a response; responses queued in the same turn are published with one push. */
  private respond(id: bigint, operation: number, status: number): void {
    if (this.dead) return;
    this.d.ring.put({ id, operation, status });
    this.endOfTurn();
  }

  /** At the turn's end: what respond() queued is published, and one event if any ask is unanswered. */
  private endOfTurn(): void {
    if (this.publishQueued) return;
    this.publishQueued = true;
    queueMicrotask(() => {
      this.publishQueued = false;
      this.toldThisTurn = false;
      if (this.dead) return;
      const asked = this.d.ring.pushResponses(); // nothing new to push: false
      if (asked || this.owed) {
        this.owed = false;
        this.stats.notifies++;
        this.d.notify();
      }
    });
  }
}

/** The part of a mapped page a segment names: the page's own view when it is the whole page. */
function segmentBytes(page: Uint8Array, s: Segment): Uint8Array {
  // A large request is hundreds of whole pages: a view made per page per request was most of
  // blkback's garbage.
  if (s.first === 0 && s.last === SECTORS_PER_PAGE - 1 && page.length === PAGE_SIZE) return page;
  return page.subarray(s.first * SECTOR_BYTES, (s.last + 1) * SECTOR_BYTES);
}
