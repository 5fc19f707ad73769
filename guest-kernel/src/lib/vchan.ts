/**
 * Vchan: a byte channel between two guest programs (import "@pvkit/guest-kernel/lib/vchan"): one
 * shared page holding two byte rings (one per direction) and one event channel, set up the way Xen's
 * libxenvchan does it.
 *
 * The server lends the page and opens the port, then publishes both numbers under its own xenstore
 * home (`<path>/ring-ref`, `<path>/event-channel`), readable by the client only. The client reads
 * them, maps the page and connects to the port. After that both sides are equal: write bytes into
 * your outgoing ring, kick the port; the peer's event handler wakes its reader.
 *
 * Page layout (4096 bytes):
 *   0   u32 server→client cons      8   u32 client→server cons
 *   4   u32 server→client prod     12   u32 client→server prod
 *   16  u32 server waits for room  20   u32 client waits for room
 *   1024..2047 server→client data  2048..3071 client→server data
 * Each side writes only its own producer index in one ring and its own consumer index in the other,
 * so neither needs a lock: the index stores are the barriers (see ByteRing).
 *
 * Kicks: a writer always kicks after producing (the reader may be asleep). A reader kicks after
 * consuming only when the writer said it is waiting for room (its flag), as libxenvchan's notify
 * bits do — otherwise every message would cost the peer a second, useless wakeup. The writer sets
 * its flag before it checks for room once more and sleeps, so a reader that consumed in between
 * either leaves room the writer sees, or sees the flag and kicks.
 */
import type { KernelHandle, MappedGrant, SharedPage } from "../kernel/program.ts";
import { ByteRing, type ByteRingLayout } from "../kernel/bytering.ts";

const SERVER_TO_CLIENT: ByteRingLayout = { cons: 0, prod: 4, data: 1024, size: 1024 };
const CLIENT_TO_SERVER: ByteRingLayout = { cons: 8, prod: 12, data: 2048, size: 1024 };
/** Word indexes (u32) of the "waiting for room" flags: the server's and the client's. */
const SERVER_WAITS = 16 / 4;
const CLIENT_WAITS = 20 / 4;

export class Vchan {
  private readonly rx: ByteRing;
  private readonly tx: ByteRing;
  private wakeups: (() => void)[] = [];
  private closed = false;
  private port = -1;
  /** The page's words, for the waiting flags (Atomics: the peer reads them concurrently). */
  private readonly words: Int32Array;
  private readonly myWait: number;
  private readonly peerWait: number;

  private constructor(
    private readonly k: KernelHandle,
    page: DataView,
    server: boolean,
    private readonly release: () => void,
  ) {
    this.tx = new ByteRing(page, server ? SERVER_TO_CLIENT : CLIENT_TO_SERVER);
    this.rx = new ByteRing(page, server ? CLIENT_TO_SERVER : SERVER_TO_CLIENT);
    this.words = new Int32Array(page.buffer, page.byteOffset, 8);
    [this.myWait, this.peerWait] = server ? [SERVER_WAITS, CLIENT_WAITS] : [CLIENT_WAITS, SERVER_WAITS];
  }

  /**
   * Serves a channel to domain `peer`: lends it a page, opens a port for it, and publishes both under
   * `path` (relative to our xenstore home). Returns at once; the client connects when it is ready.
   */
  static async listen(k: KernelHandle, peer: number, path = "data/vchan"): Promise<Vchan> {
    const page: SharedPage = k.grants.share(peer);
    const ch = new Vchan(k, page.view, true, () => void page.release());
    ch.port = k.events.allocUnbound(peer, () => ch.wake());
    // Write both numbers, then let the peer read them: the client watches event-channel, so it is
    // written (and opened to the peer) last.
    for (const [key, value] of [
      ["ring-ref", page.ref],
      ["event-channel", ch.port],
    ] as const) {
      await k.xenstore.write(`${path}/${key}`, String(value));
      await k.xenstore.setPerms(`${path}/${key}`, [`n${k.domid}`, `r${peer}`]);
    }
    return ch;
  }

  /** Connects to the channel domain `server` published under `path` of its home, once it has. */
  static async connect(k: KernelHandle, server: number, path = "data/vchan"): Promise<Vchan> {
    const home = `/local/domain/${server}/${path}`;
    const port = await waitForNode(k, `${home}/event-channel`);
    const ref = Number(await k.xenstore.read(`${home}/ring-ref`));
    const mapped: MappedGrant = k.grants.map(server, ref);
    const ch = new Vchan(k, mapped.view, false, () => mapped.unmap());
    ch.port = k.events.bindInterdomain(server, Number(port), () => ch.wake());
    return ch;
  }

  private wake(): void {
    const w = this.wakeups;
    this.wakeups = [];
    for (const f of w) f();
  }

  /** Resolves at the next kick from the peer (or at close). */
  private kicked(): Promise<void> {
    return new Promise((resolve) => this.wakeups.push(resolve));
  }

  /** Sends all of `data`, waiting for the peer to make room when the ring is full. */
  async write(data: Uint8Array): Promise<void> {
    let off = 0;
    while (off < data.length) {
      if (this.closed) throw new Error("vchan: write on a closed channel");
      const n = this.tx.write(data.subarray(off));
      off += n;
      if (n > 0) {
        this.k.events.notify(this.port);
        continue;
      }
      // Full: say we wait for room, look once more (the peer may have read meanwhile), then sleep.
      Atomics.store(this.words, this.myWait, 1);
      if (this.tx.space() === 0) await this.kicked();
      Atomics.store(this.words, this.myWait, 0);
    }
  }

  /** The bytes waiting, at least one: waits for the peer when there are none. */
  async read(): Promise<Uint8Array> {
    for (;;) {
      if (this.rx.corrupt()) throw new Error("vchan: the peer broke the ring's indices");
      if (this.rx.available() > 0) {
        const bytes = this.rx.read();
        // Room for the peer's next write: kick only a peer that waits for it.
        if (Atomics.exchange(this.words, this.peerWait, 0) === 1) this.k.events.notify(this.port);
        return bytes;
      }
      if (this.closed) throw new Error("vchan: read on a closed channel");
      await this.kicked();
    }
  }

  /** Closes our end: the port, then the page (unmapped, or released once the peer let go). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.k.events.close(this.port);
    this.release();
    this.wake();
  }
}

/** The value of `path` once it exists and we may read it (a watch fires on creation and on chmod). */
export async function waitForNode(k: KernelHandle, path: string): Promise<string> {
  let done: (v: string) => void = () => undefined;
  const found = new Promise<string>((resolve) => (done = resolve));
  const unwatch = await k.xenstore.watch(path, () => {
    void k.xenstore.tryRead(path).then(
      (v) => v !== undefined && done(v),
      () => undefined, // not readable by us yet: the next event (the chmod) tries again
    );
  });
  const value = await found;
  await unwatch();
  return value;
}

/**
 * Framing over a vchan's byte stream: lines of text, or an exact count of bytes. What the channel
 * delivered is kept as the chunks it came in and joined once, when a line or a count is taken, so a
 * long read costs one copy, not one per chunk.
 */
export class LineReader {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  /** Bytes at the front already searched for a newline (none there). */
  private scanned = 0;
  private readonly decoder = new TextDecoder();
  constructor(private readonly ch: Vchan) {}

  private async more(): Promise<void> {
    const got = await this.ch.read();
    this.chunks.push(got);
    this.buffered += got.length;
  }

  /** Removes and returns the first `n` buffered bytes (n <= buffered). */
  private take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let done = 0;
    while (done < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - done);
      out.set(c.subarray(0, k), done);
      done += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    this.scanned = 0;
    return out;
  }

  /** Where the first buffered newline is, or -1; searches only what it has not searched before. */
  private newline(): number {
    let base = 0;
    for (const c of this.chunks) {
      if (base + c.length > this.scanned) {
        const at = c.indexOf(0x0a, Math.max(0, this.scanned - base));
        if (at >= 0) return base + at;
      }
      base += c.length;
    }
    this.scanned = base;
    return -1;
  }

  /** The next line, without its "\n". */
  async next(): Promise<string> {
    for (let nl = this.newline(); ; nl = this.newline()) {
      if (nl >= 0) return this.decoder.decode(this.take(nl + 1).subarray(0, nl));
      await this.more();
    }
  }

  /** Exactly `n` bytes. */
  async bytes(n: number): Promise<Uint8Array> {
    while (this.buffered < n) await this.more();
    return this.take(n);
  }
}
