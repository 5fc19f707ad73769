/**
 * The console front end: output goes into the `out` ring of the xencons_interface page, input
 * comes from its `in` ring, and each side kicks the console event channel after moving data.
 * Before the ring is attached, output goes to the early sink (console_io write: Xen's "printk
 * before the console is up"). The caller must route the console evtchn to `poll()`.
 */
import { ByteRing } from "../kernel/bytering.ts";
import { XENCONS } from "../kernel/xen.ts";
import { LineEditor } from "./lineedit.ts";

const enc = new TextEncoder();

/** Bytes of output kept while the ring is full; beyond it the oldest queued output is dropped. */
export const OUTPUT_BACKLOG = 256 * 1024;

export class Console {
  private out: ByteRing | null = null;
  private in: ByteRing | null = null;
  private notify: () => void = () => undefined;
  private backlog: Uint8Array[] = [];
  private backlogBytes = 0;
  private readonly decoder = new TextDecoder("utf-8");
  private readonly editor = new LineEditor();
  private readonly lines: string[] = [];
  private readonly readers: ((line: string) => void)[] = [];
  private readonly interruptHandlers = new Set<() => void>();
  /** Input echo on (the shell wants it; a program reading raw data may not). */
  echo = true;
  /** Counters for `ps`/tests: bytes dropped for lack of ring space. */
  dropped = 0;

  /** @param early writes bytes through console_io (used until attach()) */
  constructor(private readonly early: (bytes: Uint8Array) => void) {}

  /** Connects the ring page; anything written early stays where it went. */
  attach(page: DataView, notify: () => void): void {
    const C = XENCONS;
    this.out = new ByteRing(page, { data: C.out, size: C.outSize, cons: C.outCons, prod: C.outProd });
    this.in = new ByteRing(page, { data: C.in, size: C.inSize, cons: C.inCons, prod: C.inProd });
    this.notify = notify;
    this.poll();
  }

  get attached(): boolean {
    return this.out !== null;
  }

  /** Writes text, turning "\n" into "\r\n" as a terminal needs. Never blocks: output queues. */
  write(text: string): void {
    this.writeBytes(enc.encode(text.replace(/\r?\n/g, "\r\n")));
  }

  /** Writes raw bytes. */
  writeBytes(bytes: Uint8Array): void {
    if (!this.out) {
      this.early(bytes);
      return;
    }
    this.backlog.push(bytes);
    this.backlogBytes += bytes.length;
    while (this.backlogBytes > OUTPUT_BACKLOG && this.backlog.length > 1) {
      const old = this.backlog.shift()!;
      this.backlogBytes -= old.length;
      this.dropped += old.length;
    }
    this.flush();
  }

  private flush(): void {
    if (!this.out) return;
    let wrote = false;
    while (this.backlog.length > 0) {
      const head = this.backlog[0];
      const n = this.out.write(head);
      if (n > 0) wrote = true;
      this.backlogBytes -= n;
      if (n < head.length) {
        this.backlog[0] = head.subarray(n);
        break;
      }
      this.backlog.shift();
    }
    if (wrote) this.notify();
  }

  /** Output still waiting for ring space. */
  get queuedBytes(): number {
    return this.backlogBytes;
  }

  /**
   * The event handler: push queued output (the backend may have drained the ring) and take input.
   * Input bytes are copied off the ring once, then decoded and line-edited.
   */
  poll(): void {
    this.flush();
    if (!this.in) return;
    let consumed = false;
    for (;;) {
      const bytes = this.in.read();
      if (bytes.length === 0) break;
      consumed = true;
      this.input(this.decoder.decode(bytes, { stream: true }));
    }
    if (consumed) this.notify();
  }

  /** Feeds typed text through the line editor (exported for tests and the early console). */
  input(text: string): void {
    const r = this.editor.feed(text);
    if (this.echo && r.echo) this.write(r.echo.replace(/\r\n/g, "\n"));
    for (let i = 0; i < r.interrupts; i++) for (const h of this.interruptHandlers) h();
    for (const line of r.lines) {
      const reader = this.readers.shift();
      if (reader) reader(line);
      else if (this.lines.length < 256) this.lines.push(line);
    }
  }

  /** Resolves with the next whole line typed (without its newline). Prints `prompt` first. */
  readline(prompt = ""): Promise<string> {
    if (prompt) this.write(prompt);
    const ready = this.lines.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve) => this.readers.push(resolve));
  }

  /** Calls `handler` on every Ctrl-C; returns a function that removes it. */
  onInterrupt(handler: () => void): () => void {
    this.interruptHandlers.add(handler);
    return () => this.interruptHandlers.delete(handler);
  }
}
