/**
 * xenconsoled for pvkit: dom0's back end of every guest's PV console. For each guest it drains the
 * `out` ring of its xencons_interface page into a bounded history and to attached clients, and feeds
 * client keystrokes into the `in` ring. It reads only through ByteRing, which copies bytes out once
 * and ignores a ring whose indices a hostile guest has corrupted.
 */
import { XENCONS_IN_SIZE, XENCONS_OUT_SIZE, XenconsInterface } from "@pvkit/abi/layout";
import { ByteRing } from "../../kernel/bytering.ts";

/** How much of a guest's output is kept for late attachers (`pvkit console` shows it first). */
export const HISTORY_BYTES = 64 * 1024;

const off = XenconsInterface.offsets;

/** A client attached to a console: receives output, may send input. */
export interface ConsoleClient {
  write(bytes: Uint8Array): void;
  /** The console went away (the domain was destroyed). */
  close?(): void;
}

class GuestConsole {
  /** Guest → dom0: the guest produces into `out`. */
  readonly out: ByteRing;
  /** dom0 → guest: we produce into `in`. */
  readonly in: ByteRing;
  private history: Uint8Array[] = [];
  private historyBytes = 0;
  private pendingInput: Uint8Array[] = [];
  readonly clients = new Set<ConsoleClient>();

  constructor(
    page: DataView,
    readonly notify: () => void,
  ) {
    this.out = new ByteRing(page, {
      data: off.out,
      size: XENCONS_OUT_SIZE,
      cons: off.out_cons,
      prod: off.out_prod,
    });
    this.in = new ByteRing(page, {
      data: off.in,
      size: XENCONS_IN_SIZE,
      cons: off.in_cons,
      prod: off.in_prod,
    });
  }

  /** Moves everything the guest wrote to history and clients; tells the guest there is room again. */
  drain(): void {
    let moved = false;
    while (this.out.available() > 0) {
      const bytes = this.out.read();
      moved = true;
      this.history.push(bytes);
      this.historyBytes += bytes.length;
      while (this.historyBytes > HISTORY_BYTES && this.history.length > 1)
        this.historyBytes -= this.history.shift()!.length;
      for (const c of this.clients) c.write(bytes);
    }
    if (this.flushInput() || moved) this.notify();
  }

  /** Queues keystrokes for the guest; what does not fit waits for the guest to consume. */
  input(bytes: Uint8Array): void {
    this.pendingInput.push(bytes);
    if (this.flushInput()) this.notify();
  }

  private flushInput(): boolean {
    let wrote = false;
    while (this.pendingInput.length > 0) {
      const head = this.pendingInput[0]!;
      const n = this.in.write(head);
      if (n > 0) wrote = true;
      if (n < head.length) {
        this.pendingInput[0] = head.subarray(n);
        break;
      }
      this.pendingInput.shift();
    }
    return wrote;
  }

  historyBytesCopy(): Uint8Array {
    const all = new Uint8Array(this.historyBytes);
    let at = 0;
    for (const b of this.history) all.set(b, (at += b.length) - b.length);
    return all;
  }
}

export class Consoled {
  private readonly guests = new Map<number, GuestConsole>();

  /** Starts serving a guest's console page; `notify` kicks the guest's console event channel. */
  attach(domid: number, page: DataView, notify: () => void): void {
    this.guests.set(domid, new GuestConsole(page, notify));
  }

  /** The guest kicked its console port: there is output to drain (or room for input). */
  onEvent(domid: number): void {
    this.guests.get(domid)?.drain();
  }

  /** Stops serving a guest (domain destroyed): its last output is flushed and its clients closed. */
  detach(domid: number): void {
    const g = this.guests.get(domid);
    if (!g) return;
    g.drain();
    this.guests.delete(domid);
    for (const c of g.clients) c.close?.();
  }

  /** Everything the guest printed recently (bounded by HISTORY_BYTES). */
  history(domid: number): Uint8Array {
    return this.guests.get(domid)?.historyBytesCopy() ?? new Uint8Array(0);
  }

  /** Connects a client: it receives the history, then live output. Returns input and detach functions. */
  connect(
    domid: number,
    client: ConsoleClient,
  ): { input(bytes: Uint8Array): void; detach(): void } | undefined {
    const g = this.guests.get(domid);
    if (!g) return undefined;
    g.drain();
    const past = g.historyBytesCopy();
    if (past.length > 0) client.write(past);
    g.clients.add(client);
    return { input: (b) => g.input(b), detach: () => g.clients.delete(client) };
  }

  has(domid: number): boolean {
    return this.guests.has(domid);
  }
}
