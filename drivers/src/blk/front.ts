/**
 * blkfront's data path: a disk of 512-byte sectors over the blkif ring. A read or write is cut into
 * requests of at most `maxSegments` pages (11 direct, or more through BLKIF_OP_INDIRECT when the
 * backend offers it), each page from the persistent grant pool; many requests are in flight at once
 * and complete in any order, matched by id. When the ring or the pool is full, requests wait in
 * order. The backend is not trusted either: a response for an id we do not have in flight is
 * ignored and counted, and a ring whose rsp_prod lies fails every request with EIO.
 */
import {
  BLKIF_OP_DISCARD,
  BLKIF_OP_FLUSH_DISKCACHE,
  BLKIF_OP_INDIRECT,
  BLKIF_OP_READ,
  BLKIF_OP_WRITE,
  BLKIF_RSP_EOPNOTSUPP,
  BLKIF_RSP_OKAY,
  type BlkifRequest,
  BlkifRequestDiscard,
  BlkifRequestIndirect,
  BlkifRequestSegment,
  type BlkifResponse,
} from "@pvkit/abi/layout";
import type { FrontRing } from "../ring.ts";
import type { GrantPool, PoolPage } from "./front-pool.ts";
import type { SharedBuffers } from "./front-shared.ts";
import { DIRECT_SEGMENTS, PAGE_SIZE, SECTOR_BYTES, SEGMENTS_PER_INDIRECT_PAGE } from "./protocol.ts";

/** A failed disk operation: `code` as node:fs names it. */
export class BlkIoError extends Error {
  constructor(
    readonly code: "EIO" | "EROFS" | "EINVAL" | "EOPNOTSUPP" | "ENODEV",
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = "BlkIoError";
  }
}

/** What the backend said about the disk when it connected. */
export interface DiskInfo {
  name: string;
  sectors: number;
  sectorSize: number;
  readonly: boolean;
  flushes: boolean;
  discards: boolean;
  /** Segments per request: 11, or the negotiated indirect maximum. */
  maxSegments: number;
}

interface InFlight {
  pages: readonly PoolPage[];
  resolve(): void;
  reject(e: Error): void;
  /** For a read: where the data goes. */
  into?: Uint8Array;
}

interface Waiting {
  /** Tries to put the request on the ring; false when the ring or the pool is full. */
  start(): boolean;
  reject(e: Error): void;
}

export interface FrontStats {
  requests: number;
  notifies: number;
  strayResponses: number;
}

export class BlkfrontQueue {
  readonly stats: FrontStats = { requests: 0, notifies: 0, strayResponses: 0 };
  private readonly inflight = new Map<bigint, InFlight>();
  private readonly waiting: Waiting[] = [];
  private nextId = 1n;
  private broken: string | undefined;

  constructor(
    private readonly ring: FrontRing<BlkifRequest, BlkifResponse>,
    private readonly pool: GrantPool,
    readonly info: DiskInfo,
    private readonly notify: () => void,
    /** Buffers whose pages are granted already: requests on them skip the pool and its copy. */
    private readonly shared?: SharedBuffers,
  ) {}

  get idle(): boolean {
    return this.inflight.size === 0 && this.waiting.length === 0;
  }

  read(sector: number, buf: Uint8Array): Promise<void> {
    return this.rw(false, sector, buf);
  }

  write(sector: number, data: Uint8Array): Promise<void> {
    return this.rw(true, sector, data);
  }

  flush(): Promise<void> {
    if (!this.info.flushes) return Promise.resolve();
    return this.enqueue([], (id) => ({
      operation: BLKIF_OP_FLUSH_DISKCACHE,
      nr_segments: 0,
      id,
      sector_number: 0n,
    }));
  }

  discard(sector: number, count: number): Promise<void> {
    if (!this.info.discards || count === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({
        reject,
        start: () => {
          if (this.ring.free < 1) return false;
          const id = this.nextId++;
          this.inflight.set(id, { pages: [], resolve, reject });
          this.ring.putWith(BlkifRequestDiscard, {
            operation: BLKIF_OP_DISCARD,
            flag: 0,
            handle: 0,
            id,
            sector_number: BigInt(sector),
            nr_sectors: BigInt(count),
          });
          return true;
        },
      });
      this.pump();
    });
  }

  /** The backend kicked us: complete what it answered, then start what waited for room. */
  onEvent(): void {
    if (this.broken) return;
    let responses: BlkifResponse[];
    try {
      responses = this.ring.takeResponses();
    } catch (e) {
      this.fail(e instanceof Error ? e.message : String(e));
      return;
    }
    for (const r of responses) {
      const job = this.inflight.get(r.id);
      if (!job) {
        this.stats.strayResponses++;
        continue;
      }
      this.inflight.delete(r.id);
      if (r.status === BLKIF_RSP_OKAY) {
        if (job.into) copyFromPages(job.pages, job.into);
        this.pool.give(job.pages);
        job.resolve();
      } else {
        this.pool.give(job.pages);
        const code = r.status === BLKIF_RSP_EOPNOTSUPP ? "EOPNOTSUPP" : "EIO";
        job.reject(new BlkIoError(code, `${this.info.name}: the backend answered status ${r.status}`));
      }
    }
    this.pump();
  }

  /** Fails everything in flight and waiting (the ring is corrupt, or the device is going away). */
  fail(why: string): void {
    this.broken ??= why;
    const err = new BlkIoError("EIO", `${this.info.name}: ${why}`);
    for (const job of this.inflight.values()) job.reject(err);
    this.inflight.clear();
    for (const w of this.waiting.splice(0)) w.reject(err);
  }

  private rw(write: boolean, sector: number, buf: Uint8Array): Promise<void> {
    const perRequest = this.info.maxSegments * PAGE_SIZE;
    if (buf.length === 0) return Promise.resolve(); // nothing to move: no request (0 segments is refused)
    if (buf.length <= perRequest) return this.request(write, sector, buf); // most calls: one request
    const parts: Promise<void>[] = [];
    for (let off = 0; off < buf.length; off += perRequest) {
      const chunk = buf.subarray(off, Math.min(buf.length, off + perRequest));
      parts.push(this.request(write, sector + off / SECTOR_BYTES, chunk));
    }
    return Promise.all(parts).then(() => undefined);
  }

  /**
   * One request of up to maxSegments pages: on the chunk's own pages when it lies in a shared
   * buffer (front-shared.ts), else on pool pages, with the data copied in (write) or out (read).
   */
  private request(write: boolean, sector: number, chunk: Uint8Array): Promise<void> {
    const nseg = Math.ceil(chunk.length / PAGE_SIZE);
    const indirect = nseg > DIRECT_SEGMENTS;
    const nind = indirect ? Math.ceil(nseg / SEGMENTS_PER_INDIRECT_PAGE) : 0;
    const own = this.shared?.refsOf(chunk);
    const lastSect = (i: number) => Math.min(PAGE_SIZE, chunk.length - i * PAGE_SIZE) / SECTOR_BYTES - 1;
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({
        reject,
        start: () => {
          if (this.ring.free < 1) return false;
          const pages = this.pool.take(own ? nind : nseg + nind);
          if (!pages) return false;
          // The data pages' grant refs: the lent buffer's own, or pool pages (a write's data copied in).
          const refs = own ?? new Array<number>(nseg);
          if (!own)
            for (let i = 0; i < nseg; i++) {
              const p = pages[i]!;
              if (write) p.bytes.set(chunk.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE));
              refs[i] = p.ref;
            }
          const id = this.nextId++;
          this.inflight.set(id, { pages, resolve, reject, ...(write || own ? {} : { into: chunk }) });
          const operation = write ? BLKIF_OP_WRITE : BLKIF_OP_READ;
          if (!indirect) {
            this.ring.put({
              operation,
              nr_segments: nseg,
              handle: 0,
              id,
              sector_number: BigInt(sector),
              seg: refs.map((gref, i) => ({ gref, first_sect: 0, last_sect: lastSect(i) })),
            });
          } else {
            const ind = own ? pages : pages.slice(nseg);
            writeIndirectSegments(ind, refs, lastSect);
            this.ring.putWith(BlkifRequestIndirect, {
              operation: BLKIF_OP_INDIRECT,
              indirect_op: operation,
              nr_segments: nseg,
              id,
              sector_number: BigInt(sector),
              handle: 0,
              indirect_grefs: Array.from({ length: 8 }, (_, i) => ind[i]?.ref ?? 0),
            });
          }
          return true;
        },
      });
      this.pump();
    });
  }

  private enqueue(pages: PoolPage[], make: (id: bigint) => Partial<BlkifRequest>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({
        reject,
        start: () => {
          if (this.ring.free < 1) return false;
          const id = this.nextId++;
          this.inflight.set(id, { pages, resolve, reject });
          this.ring.put({ handle: 0, seg: [], ...make(id) } as BlkifRequest);
          return true;
        },
      });
      this.pump();
    });
  }

  /** Starts waiting requests in order while there is room, then tells the backend once. */
  private pump(): void {
    if (this.broken) return this.fail(this.broken);
    let started = 0;
    for (let w = this.waiting[0]; w; w = this.waiting[0]) {
      let ok: boolean;
      try {
        ok = w.start();
      } catch (e) {
        // No page or grant ref to be had (the domain's memory or grant table is full): this request
        // fails alone, and the ones behind it still get their turn.
        this.waiting.shift();
        w.reject(new BlkIoError("EIO", `${this.info.name}: ${e instanceof Error ? e.message : String(e)}`));
        continue;
      }
      if (!ok) break;
      this.waiting.shift();
      started++;
    }
    if (started === 0) return;
    this.stats.requests += started;
    if (this.ring.pushRequests()) {
      this.stats.notifies++;
      this.notify();
    }
  }
}

/**
 * An indirect request's segments, written into its indirect pages: one view a page and each field
 * set where it lies. A 1 MiB request has 256 of them, and a codec's encode per segment (a view and
 * an object each) was most of a sequential read's time in the guest.
 */
function writeIndirectSegments(
  ind: readonly PoolPage[],
  refs: readonly number[],
  lastSect: (i: number) => number,
): void {
  const { gref, first_sect, last_sect } = BlkifRequestSegment.offsets;
  const size = BlkifRequestSegment.size;
  for (let p = 0, i = 0; i < refs.length; p++) {
    const bytes = ind[p]!.bytes;
    const v = new DataView(bytes.buffer, bytes.byteOffset, PAGE_SIZE);
    for (let o = 0; o < PAGE_SIZE && i < refs.length; o += size, i++) {
      v.setBigUint64(o, 0n); // padding included: nothing stale crosses
      v.setUint32(o + gref, refs[i]!, true);
      v.setUint8(o + first_sect, 0);
      v.setUint8(o + last_sect, lastSect(i));
    }
  }
}

function copyFromPages(pages: readonly PoolPage[], into: Uint8Array): void {
  for (let off = 0, i = 0; off < into.length; off += PAGE_SIZE, i++) {
    const n = Math.min(PAGE_SIZE, into.length - off);
    into.set(pages[i]!.bytes.subarray(0, n), off);
  }
}
