/**
 * Packet capture in dom0 (`pvkit capture`): taps on a bridge, or on one domain's vifs, feed a pcap
 * file until a frame count is reached, a number of seconds has passed, or the user stops it (the
 * CLI's Ctrl-C, or its connection closing). Whatever ends it, the file is flushed and closed before
 * the capture reports, so a reader never sees half a record.
 *
 * A frame is written once even when a domain has two vifs on one bridge and the frame goes from one
 * to the other (or is flooded to both): the bridge's frame counter tells one input from the next.
 */
import type { NetPort } from "@pvkit/drivers/net/port";
import type { Bridge, Tap } from "./bridge.ts";
import { PcapWriter } from "./pcap.ts";

/** What is captured: every frame entering a bridge, or the frames to and from some ports. */
export type CaptureSource = { bridge: Bridge } | { ports: { bridge: Bridge; port: NetPort }[] };

export interface CaptureLimits {
  /** Stop after this many frames. */
  count?: number | undefined;
  /** Stop after this many seconds. */
  seconds?: number | undefined;
}

export type CaptureEnd = "count" | "seconds" | "stopped" | "write-error";

export interface CaptureResult {
  file: string;
  frames: number;
  bytes: number;
  /** Why it ended. */
  end: CaptureEnd;
  /** For write-error: the reason in words. */
  error?: string;
}

export class Capture {
  readonly done: Promise<CaptureResult>;
  private finish!: (r: CaptureResult) => void;
  private readonly untap: (() => void)[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private result: CaptureResult | undefined;

  constructor(
    private readonly writer: PcapWriter,
    source: CaptureSource,
    private readonly limits: CaptureLimits = {},
    private readonly reason: (e: unknown) => string = String,
  ) {
    this.done = new Promise((r) => (this.finish = r));
    if ("bridge" in source) {
      this.untap.push(source.bridge.tap((f) => this.take(f)));
    } else {
      // One input into a bridge is one frame, however many of our ports it touches.
      const last = new Map<Bridge, number>();
      for (const { bridge, port } of source.ports) {
        const tap: Tap = (f) => {
          if (last.get(bridge) === bridge.stats.frames) return;
          last.set(bridge, bridge.stats.frames);
          this.take(f);
        };
        this.untap.push(bridge.tapPort(port, tap));
      }
    }
    if (limits.seconds !== undefined)
      this.timer = setTimeout(() => this.stop("seconds"), limits.seconds * 1000);
    if (limits.count === 0) this.stop("count");
  }

  get frames(): number {
    return this.writer.frames;
  }

  /** Ends the capture (idempotent): taps off, file closed; returns how it ended. */
  stop(end: CaptureEnd = "stopped"): CaptureResult {
    if (this.result) return this.result;
    for (const u of this.untap.splice(0)) u();
    if (this.timer) clearTimeout(this.timer);
    let error = this.writer.error;
    try {
      this.writer.close();
    } catch (e) {
      error ??= e;
    }
    this.result = {
      file: this.writer.file,
      frames: this.writer.frames,
      bytes: this.writer.bytes,
      end: error === undefined ? end : "write-error",
      ...(error === undefined ? {} : { error: this.reason(error) }),
    };
    this.finish(this.result);
    return this.result;
  }

  private take(frame: Uint8Array): void {
    if (this.result) return;
    this.writer.write(frame);
    if (this.writer.error !== undefined) this.stop("write-error");
    else if (this.limits.count !== undefined && this.writer.frames >= this.limits.count) this.stop("count");
  }
}
