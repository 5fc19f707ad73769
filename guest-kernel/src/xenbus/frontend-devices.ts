/**
 * The devices of one kind the toolstack gives this domain (device/vbd, device/vif), kept as Linux's
 * xenbus frontend bus keeps them. At boot every directory under device/<kind> is connected by the
 * driver (in parallel); one whose backend never connects is reported and left out.
 *
 * After boot the bus follows device/<kind>: a directory the toolstack adds (`pvkit block-attach`,
 * `network-attach`) is connected like the first ones, and a device whose backend goes to Closing
 * with `online` at 0 (libxl's detach asks so) is closed and forgotten — unless the driver says it
 * is in use: then it stays, and error/device/<kind>/<id>/error says why, as Linux's "Device in use;
 * refusing to close". A directory that goes without a Closing first (a forced detach) is closed at
 * once: its backend no longer serves it. At shutdown every device is closed properly, so dom0 sees
 * Closing/Closed and unmaps our pages before the domain ends.
 *
 * Hotplug reuses ids (xvdb again, vif 0 again), so a directory may go and come back faster than
 * the guest looks: each directory seen has a slot, a handshake that finds another slot in its place
 * when it ends closes what it made, and a directory we let go of that is Initialising again is the
 * toolstack's new device. Looks at device/<kind> run one at a time, so two never both start one.
 * (A connected device whose directory is removed and made again between two looks is not noticed,
 * as with Linux's bus; it fails its requests, and a detach and attach set it right.)
 */
import { XenbusStateClosing, XenbusStateInitialising } from "@pvkit/abi/layout";
import type { XenStoreClient } from "./client.ts";

/** A device the driver connected. */
export interface Connected<D> {
  /** Its name for programs (xvdb, eth1). */
  name: string;
  device: D;
  /** Its backend's directory, as the driver found it in the frontend's `backend` node. */
  backend: string;
  /** Closes the frontend; waits at most `timeoutMs` for the backend to follow. */
  close(timeoutMs?: number): Promise<void>;
}

/** What the bus needs of a frontend driver (blkfront, netfront). */
export interface FrontendDriver<D> {
  /** The directory name under device/: "vbd", "vif". */
  kind: string;
  /** Runs the handshake for the device whose frontend directory is `dir`; logs what it found. */
  connect(dir: string): Promise<Connected<D>>;
  /** Why device `name` must not be taken away now, or undefined when it may. */
  inUse?(name: string): string | undefined;
  log(line: string): void;
}

/** How long closing a device the toolstack removed waits for its (gone) backend's state. */
const FORCED_CLOSE_MS = 1000;

/**
 * Where the bus is with one directory under device/<kind>. A directory that goes and comes back
 * under the same id (a detach, then an attach) gets a new slot; work begun for an old slot that
 * finds another in its place ends there.
 */
interface Slot {
  phase: "connecting" | "connected" | "failed" | "detached";
  /** What runs on its directory now (the handshake, or the close): never rejects. */
  work: Promise<void>;
  /** Whether that is still running. */
  busy: boolean;
}

/** Makes `work` the slot's: what runs on its directory now. */
function run(slot: Slot, work: Promise<unknown>): Promise<void> {
  const p = work.then(
    () => undefined,
    () => undefined,
  );
  slot.work = p;
  slot.busy = true;
  void p.then(() => {
    if (slot.work === p) slot.busy = false;
  });
  return p;
}

interface Entry<D> extends Connected<D> {
  /** Its directory's name under device/<kind>. */
  id: string;
  slot: Slot;
  /** Stops following its backend's state. */
  unwatch(): void;
}

export class FrontendDevices<D> {
  private readonly devices = new Map<string, Entry<D>>();
  /** Directories seen, by id (a failed one is not tried again while it stays). */
  private readonly slots = new Map<string, Slot>();
  private readonly dir: string;
  private readonly errors: string;
  /** Stops following device/<kind> (set by follow()). */
  private unfollow: (() => void) | undefined;
  /** Set by close(): nothing is connected any more. */
  private closed = false;
  /** The last look at device/<kind>: looks run one at a time, each on what the last one left. */
  private looking: Promise<unknown> = Promise.resolve();
  /** The slots of directories that went (by id): a new directory there waits for their work. */
  private readonly leaving = new Map<string, Slot>();

  constructor(
    private readonly xs: XenStoreClient,
    domid: number,
    private readonly driver: FrontendDriver<D>,
  ) {
    this.dir = `/local/domain/${domid}/device/${driver.kind}`;
    this.errors = `/local/domain/${domid}/error/device/${driver.kind}`;
  }

  /** Connects every device the toolstack configured. */
  async probe(): Promise<void> {
    await this.scan();
  }

  /** From now on, connects the devices the toolstack adds and lets go of those it takes away. */
  async follow(): Promise<void> {
    const token = await this.xs.watch(this.dir, (path) => {
      // A node inside a device's directory (its own state, ring-ref, ...) is no news; a directory
      // appearing or going is.
      // So is a node of one we let go of: the toolstack may have made it again, same id.
      const rest = path.slice(this.dir.length + 1);
      const slash = rest.indexOf("/");
      const slot = slash < 0 ? undefined : this.slots.get(rest.slice(0, slash));
      if (!slot || slot.phase === "detached" || slot.phase === "failed") void this.scan();
    });
    if (this.closed) void this.xs.unwatch(token).catch(() => undefined);
    else this.unfollow = () => void this.xs.unwatch(token).catch(() => undefined);
  }

  /** The connected devices, by name. */
  list(): D[] {
    return [...this.devices.values()].sort((a, b) => a.name.localeCompare(b.name)).map((e) => e.device);
  }

  get(name: string): D | undefined {
    return this.devices.get(name)?.device;
  }

  /** Closes every device (shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    this.unfollow?.();
    for (const e of this.devices.values()) e.unwatch();
    this.slots.clear();
    await Promise.all([...this.devices.values()].map((e) => e.close()));
    this.devices.clear();
  }

  /** Looks at device/<kind> (after any look still running), then waits for the connects it began. */
  private async scan(): Promise<void> {
    const look = this.looking.then(() => this.look());
    this.looking = look.catch(() => undefined);
    await Promise.all(await look.catch(() => []));
  }

  /** Forgets the devices whose directory went; begins connecting the new ones. */
  private async look(): Promise<Promise<void>[]> {
    if (this.closed) return [];
    const ids = await this.xs.directory(this.dir).catch(() => [] as string[]);
    if (this.closed) return [];
    for (const [id, slot] of this.slots)
      if (!ids.includes(id)) {
        this.slots.delete(id);
        const e = [...this.devices.values()].find((e) => e.slot === slot);
        // Its requests fail now; its pages are given back once the backend (being destroyed)
        // unmapped them. A handshake still running closes what it made when it ends.
        if (e) this.forget(e, FORCED_CLOSE_MS);
        this.leaving.set(id, slot);
      }
    const fresh: string[] = [];
    for (const id of ids) {
      const slot = this.slots.get(id);
      // New, or one we let go of (or failed) made again, Initialising, before we saw it go.
      const made =
        !slot ||
        ((slot.phase === "detached" || slot.phase === "failed") &&
          (await this.frontendState(id)) === String(XenbusStateInitialising));
      if (!made) continue;
      // The old device on this id is still closing (or its handshake still running): its writes
      // would land in the new directory. Connect the new one once it is done.
      const old = this.leaving.get(id) ?? slot;
      if (old?.busy) {
        void old.work.then(() => this.scan());
        continue;
      }
      this.leaving.delete(id);
      fresh.push(id);
    }
    return fresh.map((id) => this.connect(id));
  }

  private frontendState(id: string): Promise<string | undefined> {
    return this.xs.tryRead(`${this.dir}/${id}/state`).catch(() => undefined);
  }

  private connect(id: string): Promise<void> {
    const slot: Slot = { phase: "connecting", work: Promise.resolve(), busy: false };
    this.slots.set(id, slot);
    return run(slot, this.handshake(id, slot));
  }

  private async handshake(id: string, slot: Slot): Promise<void> {
    let c: Connected<D>;
    try {
      c = await this.driver.connect(`${this.dir}/${id}`);
    } catch (e) {
      slot.phase = "failed";
      this.driver.log(
        `${this.driver.kind} ${id}: ${e instanceof Error ? e.message : String(e)}; going on without it`,
      );
      return;
    }
    // Its directory went (or came back as another device, or the domain began to shut down)
    // while the handshake ran.
    if (this.closed || this.slots.get(id) !== slot) {
      slot.phase = "detached";
      await c.close(FORCED_CLOSE_MS).catch(() => undefined);
      return;
    }
    slot.phase = "connected";
    // Not waited for: boot does not pay the watch's round trip. (Refused — the watch quota — the
    // device works on, but a detach must then be forced.)
    const watching = this.xs.watch(`${c.backend}/state`, () => void this.backendChanged(c.name));
    watching.catch((e: unknown) => this.driver.log(`${c.name}: not following its backend: ${String(e)}`));
    const unwatch = () => void watching.then((token) => this.xs.unwatch(token)).catch(() => undefined);
    this.devices.set(c.name, { ...c, id, slot, unwatch });
  }

  /**
   * The backend of device `name` changed state. Closing with `online` at 0 is the toolstack asking
   * us to let go (libxl's detach); a Closing of the backend's own (it gave up on a ring:
   * xenbus_dev_fatal) leaves the device to fail its requests, as before.
   */
  private async backendChanged(name: string): Promise<void> {
    const e = this.devices.get(name);
    if (!e) return;
    const read = (key: string) => this.xs.tryRead(`${e.backend}/${key}`).catch(() => undefined);
    if ((await read("state")) !== String(XenbusStateClosing) || (await read("online")) !== "0") return;
    if (this.devices.get(name) !== e) return;
    const why = this.driver.inUse?.(name);
    if (why !== undefined) {
      await this.xs.write(`${this.errors}/${e.id}/error`, why).catch(() => undefined);
      return;
    }
    await this.forget(e).work;
  }

  /** Stops serving `e` and closes it; the close becomes its slot's work. */
  private forget(e: Entry<D>, timeoutMs?: number): Slot {
    const slot = e.slot;
    if (this.devices.get(e.name) !== e) return slot;
    this.devices.delete(e.name);
    slot.phase = "detached";
    e.unwatch();
    run(
      slot,
      e.close(timeoutMs).then(
        () => this.driver.log(`${e.name}: detached`),
        (err: unknown) => this.driver.log(`${e.name}: closing: ${String(err)}`),
      ),
    );
    return slot;
  }
}
