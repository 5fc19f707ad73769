/**
 * The classic libpcap file format, which tcpdump, tshark and Wireshark all read: a 24-byte global
 * header (magic 0xa1b2c3d4 in the writer's byte order, version 2.4, snapshot length, link type) and
 * then per frame a 16-byte record header (seconds, microseconds, bytes stored, bytes on the wire)
 * followed by the frame. We write little-endian, microsecond timestamps, LINKTYPE_ETHERNET (1):
 * frames as they cross the bridge, destination MAC first, no FCS.
 *
 * Writes are batched: a capture on a busy bridge would otherwise make one system call per frame
 * in the middle of the switch. Records gather in memory and go to the file together on the next
 * turn of the event loop (or once 256 KiB are waiting); close() writes what is left.
 */
import { closeSync, openSync, writeSync } from "node:fs";

export const PCAP_MAGIC = 0xa1b2c3d4;
export const LINKTYPE_ETHERNET = 1;
export const SNAPLEN = 65535;
const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;
const FLUSH_AT = 256 * 1024;

/** The 24-byte file header. */
export function pcapHeader(snaplen = SNAPLEN, linktype = LINKTYPE_ETHERNET): Uint8Array {
  const h = new Uint8Array(GLOBAL_HEADER);
  const v = new DataView(h.buffer);
  v.setUint32(0, PCAP_MAGIC, true);
  v.setUint16(4, 2, true); // version 2.4
  v.setUint16(6, 4, true);
  v.setInt32(8, 0, true); // thiszone: timestamps are UTC
  v.setUint32(12, 0, true); // sigfigs: 0, as every writer puts
  v.setUint32(16, snaplen, true);
  v.setUint32(20, linktype, true);
  return h;
}

/** One record: header and the frame's first `snaplen` bytes; `micros` since the Unix epoch. */
export function pcapRecord(frame: Uint8Array, micros: number, snaplen = SNAPLEN): Uint8Array {
  const stored = Math.min(frame.length, snaplen);
  const r = new Uint8Array(RECORD_HEADER + stored);
  const v = new DataView(r.buffer);
  const sec = Math.floor(micros / 1e6);
  v.setUint32(0, sec, true);
  v.setUint32(4, Math.floor(micros - sec * 1e6), true);
  v.setUint32(8, stored, true);
  v.setUint32(12, frame.length, true);
  r.set(frame.subarray(0, stored), RECORD_HEADER);
  return r;
}

/** Microseconds since the Unix epoch, finer than Date.now()'s milliseconds. */
export function nowMicros(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

export class PcapWriter {
  frames = 0;
  /** Bytes of frames as they were on the wire (not counting pcap's headers). */
  bytes = 0;
  private fd: number | undefined;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private scheduled = false;
  private failure: unknown;

  /** Creates (or truncates) `file` and writes the header; throws node's error when it cannot. */
  constructor(
    readonly file: string,
    private readonly clock: () => number = nowMicros,
  ) {
    this.fd = openSync(file, "w", 0o644);
    try {
      writeSync(this.fd, pcapHeader());
    } catch (e) {
      closeSync(this.fd);
      throw e;
    }
  }

  /** Adds a frame (copied now: the caller's buffer may be reused once this returns). */
  write(frame: Uint8Array): void {
    if (this.fd === undefined) return;
    const rec = pcapRecord(frame, this.clock());
    this.frames++;
    this.bytes += frame.length;
    this.pending.push(rec);
    this.pendingBytes += rec.length;
    if (this.pendingBytes >= FLUSH_AT) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** The first write error, if the disk refused (the capture then stops with it). */
  get error(): unknown {
    return this.failure;
  }

  flush(): void {
    this.scheduled = false;
    if (this.fd === undefined || this.pending.length === 0) return;
    const batch = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    try {
      for (let at = 0; at < batch.length;) at += writeSync(this.fd, batch, at);
    } catch (e) {
      this.failure ??= e;
    }
  }

  /** Writes what is waiting and closes the file; a second call does nothing. */
  close(): void {
    if (this.fd === undefined) return;
    this.flush();
    closeSync(this.fd);
    this.fd = undefined;
  }
}
