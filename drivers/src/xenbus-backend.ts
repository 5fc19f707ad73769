/**
 * The backend half of a xenbus handshake, the part every backend shares (Xen's xenbus_backend and
 * the state diagrams of blkif.h and netif.h): follow the frontend's `state` node and step our own.
 *
 *   (features published) → InitWait
 *   → frontend Initialised/Connected: connect() → Connected (connect sets the state itself)
 *   → frontend Closing: disconnect() → Closing;  frontend Closed: disconnect() → Closed
 *   → frontend Initialising again (it restarted): → InitWait, and the dance starts over, unless
 *     the toolstack set our `online` node to 0 (it is detaching the device, as libxl does)
 *   → frontend gone or nonsense: disconnect() → Closed.
 *
 * Steps run one at a time, in order, whatever the frontend writes in between. fatal() reports a
 * failure as Xen's xenbus_dev_fatal does — an `error` node under dom0's error/ tree, then Closing —
 * and affects only this device.
 */
import {
  XenbusStateClosed,
  XenbusStateClosing,
  XenbusStateConnected,
  XenbusStateInitialised,
  XenbusStateInitialising,
  XenbusStateInitWait,
} from "@pvkit/abi/layout";
import { type DriverStore, readUint } from "./blk/protocol.ts";

export abstract class XenbusBackend {
  protected state = XenbusStateInitialising;
  /** The frontend's directory, from our `frontend` node. */
  protected frontend = "";
  /** Set once the toolstack removed the device: nothing is written any more. */
  protected gone = false;
  private unwatch: (() => void) | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    protected readonly xb: { store: DriverStore; log(line: string): void },
    /** Our directory: /local/domain/0/backend/<type>/<domid>/<devid>. */
    readonly path: string,
    readonly domid: number,
    readonly devid: number,
  ) {}

  abstract get name(): string;
  abstract get connected(): boolean;
  /** Maps the frontend's rings and binds its channels, then sets Connected; or calls fatal(). */
  protected abstract connect(): Promise<void>;
  /** Stops serving and undoes every mapping (a no-op when not connected). */
  protected abstract disconnect(): Promise<void> | void;
  /** Whatever outlives a connection (an open image): closed when the device is destroyed. */
  protected async release(): Promise<void> {}

  /** Enters InitWait (features already published) and starts following the frontend. */
  protected async waitForFrontend(): Promise<void> {
    await this.setState(XenbusStateInitWait);
    this.unwatch = await this.xb.store.watch(`${this.frontend}/state`, () =>
      this.enqueue(() => this.follow()),
    );
  }

  /** The toolstack removed the device (or its domain died): stop for good. */
  async destroy(): Promise<void> {
    this.gone = true;
    this.unwatch?.();
    await this.enqueue(async () => {
      await this.disconnect();
      await this.release();
    });
  }

  protected enqueue(step: () => Promise<void>): Promise<void> {
    const next = this.chain
      .then(step)
      .catch((e) => this.xb.log(`${this.name}: ${e instanceof Error ? e.message : String(e)}`));
    this.chain = next;
    return next;
  }

  private async follow(): Promise<void> {
    if (this.gone) return;
    const front = readUint(await this.xb.store.read(`${this.frontend}/state`), 255);
    switch (front) {
      case XenbusStateInitialised:
      case XenbusStateConnected:
        if (!this.connected && this.state === XenbusStateInitWait) await this.connect();
        return;
      case XenbusStateClosing:
      case XenbusStateClosed:
        await this.disconnect();
        await this.setState(front);
        return;
      case XenbusStateInitialising:
      case XenbusStateInitWait:
        // `online` 0: the toolstack is taking the device away (block-detach); no new connection.
        if ((await this.xb.store.read(`${this.path}/online`)) === "0") return;
        if (this.state === XenbusStateClosed || this.state === XenbusStateClosing) {
          await this.disconnect();
          await this.setState(XenbusStateInitWait);
        }
        return;
      default:
        if (this.connected) {
          await this.disconnect();
          await this.setState(XenbusStateClosed);
        }
    }
  }

  protected async setState(s: number): Promise<void> {
    this.state = s;
    if (!this.gone) await this.xb.store.write(`${this.path}/state`, String(s));
  }

  /** xenbus_dev_fatal: say what went wrong where the toolstack looks, and close. */
  protected async fatal(why: string): Promise<void> {
    this.xb.log(`${this.name}: ${why}`);
    const rel = this.path.replace(/^\/local\/domain\/0\//, "");
    await this.xb.store.write(`/local/domain/0/error/${rel}/error`, why).catch(() => undefined);
    await this.setState(XenbusStateClosing);
  }
}
