/**
 * A switch port that keeps what the bridge hands it, for tests of dom0's bridge: `got` in arrival
 * order, `onSend` called after each, `seqs()` reading the 32-bit number a test put after the
 * Ethernet header.
 */
import { newCounters, type NetPort } from "@pvkit/drivers/net/port";

export class RecordingPort implements NetPort {
  readonly counters = newCounters();
  readonly got: Uint8Array[] = [];
  readonly mtu = 1500;
  onSend = () => {};
  constructor(
    readonly name: string,
    readonly domid: number,
    readonly mac: Uint8Array,
  ) {}
  send(frame: Uint8Array): boolean {
    this.got.push(frame);
    this.onSend();
    return true;
  }
  /** The sequence numbers of what it got, in order. */
  seqs(): number[] {
    return this.got.map((f) => new DataView(f.buffer, f.byteOffset).getUint32(14));
  }
}
