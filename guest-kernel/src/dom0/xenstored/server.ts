/**
 * Xenstored: the store, its watches and domains, served over domain rings and a local unix socket,
 * plus a direct API for the toolstack running in the same dom0 process (it acts as dom0). Every
 * request from any transport goes through handle(): one place where a bad request becomes an
 * XS_ERROR reply and a server bug becomes EIO instead of a crash.
 */
import { lstatSync, unlinkSync, chmodSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { XS_ERROR } from "./abi.ts";
import type { Connection } from "./connection.ts";
import { XsdError, check } from "./errors.ts";
import { handleRequest, describeRequest, type ServerCore } from "./handlers.ts";
import { LocalClient } from "./local.ts";
import type { Change } from "./operations.ts";
import { revokeDomain } from "./perms.ts";
import { DEFAULT_QUOTA, type QuotaLimits } from "./quota.ts";
import { RingConnection } from "./ring.ts";
import { SocketConnection } from "./socket.ts";
import { Tree } from "./tree.ts";
import { WatchTable } from "./watches.ts";
import { bytesOf, type XsMsg } from "./wire.ts";

/** A domain's ring as the toolstack maps it: the page and a way to kick the domain's port. */
export interface DomainRing {
  page: DataView | Uint8Array;
  notify: () => void;
}

export interface XenstoredOptions {
  /** Overrides for the per-domain limits (quota.ts). */
  quota?: Partial<QuotaLimits>;
  /** Where diagnostics go (default: dropped). One line each. */
  log?: (line: string) => void;
  /**
   * Called for XS_INTRODUCE (domid, store mfn, event channel port): map the domain's page and bind
   * the port, and return them (or a promise of them) to have the ring served; or return nothing and
   * attach later with attachDomainRing().
   */
  mapDomainRing?: (
    domid: number,
    mfn: bigint,
    port: number,
  ) => DomainRing | undefined | Promise<DomainRing | undefined>;
}

interface DomainEntry {
  mfn: bigint;
  port: number;
  /** Set by XS_INTRODUCE / introduceDomain(); a ring may be attached before that. */
  introduced: boolean;
  target?: number;
  ring?: RingConnection;
}

export class Xenstored extends LocalClient implements ServerCore {
  readonly tree = new Tree();
  readonly watches = new WatchTable();
  readonly quota: Readonly<QuotaLimits>;
  private readonly domains = new Map<number, DomainEntry>();
  private readonly sockets = new Set<SocketConnection>();
  private readonly servers: Server[] = [];
  private readonly log: (line: string) => void;
  private nextSocketId = 1;

  constructor(private readonly options: XenstoredOptions = {}) {
    super();
    this.quota = { ...DEFAULT_QUOTA, ...options.quota };
    this.log = options.log ?? (() => undefined);
  }

  /** LocalClient: the direct API runs its requests here, as dom0. */
  protected core(): ServerCore {
    return this;
  }

  /** Serves xs_wire on a unix socket (replacing a stale socket file). Resolves once listening. */
  async listen(socketPath: string): Promise<void> {
    try {
      if (lstatSync(socketPath).isSocket()) unlinkSync(socketPath);
    } catch {
      // no stale socket
    }
    const server = createServer((s) => this.accept(s));
    this.servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(socketPath, () => resolve());
    });
    chmodSync(socketPath, 0o600);
  }

  private accept(socket: Socket): void {
    const conn = new SocketConnection(
      socket,
      this.nextSocketId++,
      (c, m) => this.handle(c, m),
      this.quota,
      this.log,
    );
    conn.onClosed = (c) => this.dropConnection(c);
    this.sockets.add(conn);
  }

  /**
   * Serves domain `domid` over its xenstore page. The dom0 kernel must call the returned
   * connection's onEvent() whenever the domain kicks its xenstore port.
   */
  attachDomainRing(domid: number, page: DataView | Uint8Array, notify: () => void): RingConnection {
    const entry = this.domains.get(domid) ?? { mfn: 0n, port: 0, introduced: false };
    entry.ring?.close("replaced");
    const ring = new RingConnection(domid, page, notify, (c, m) => this.handle(c, m), this.quota, this.log);
    if (entry.target !== undefined) ring.who = { ...ring.who, target: entry.target };
    ring.onClosed = (c) => this.dropConnection(c);
    entry.ring = ring;
    this.domains.set(domid, entry);
    ring.onEvent(); // requests written before we attached
    return ring;
  }

  /** Handles one request from any connection: reply (or XS_ERROR), then the request's after-work. */
  handle(conn: Connection, msg: XsMsg): void {
    conn.stats.requests++;
    try {
      const r = handleRequest(this, conn, msg);
      const payload = typeof r.payload === "string" ? bytesOf(r.payload) : r.payload;
      conn.sendReply(msg.type, msg.reqId, msg.txId, payload);
      r.after?.();
    } catch (e) {
      conn.stats.errors++;
      let code = "EIO";
      if (e instanceof XsdError) code = e.code;
      else this.log(`xenstored: BUG handling ${describeRequest(msg)} from ${conn.label}: ${String(e)}`);
      conn.sendReply(XS_ERROR, msg.reqId, msg.txId, bytesOf(code + "\0"));
    }
  }

  /** ServerCore: queue watch events for committed changes. */
  fire(changes: readonly Change[]): void {
    for (const c of changes) this.watches.fire(c);
  }

  /** ServerCore (XS_INTRODUCE): record the domain, let the toolstack map its ring, fire @introduceDomain. */
  introduce(domid: number, mfn: bigint, port: number): void {
    const old = this.domains.get(domid);
    if (old?.introduced) {
      // Introducing again with the same page and port is harmless (Xen allows it); anything else is not.
      check(old.mfn === mfn && old.port === port, "EINVAL", `domain ${domid} already introduced`);
      return;
    }
    this.domains.set(domid, { ...old, mfn, port, introduced: true });
    const attach = (r: DomainRing | undefined) => {
      // The domain may have been released while its page was being mapped.
      if (r && this.domains.get(domid)?.introduced) this.attachDomainRing(domid, r.page, r.notify);
    };
    const mapped = this.options.mapDomainRing?.(domid, mfn, port);
    if (mapped instanceof Promise) {
      mapped.then(attach, (e) => this.log(`xenstored: mapping domain ${domid}'s ring failed: ${String(e)}`));
    } else {
      attach(mapped);
    }
    this.watches.fireSpecial("@introduceDomain");
  }

  /** The toolstack's way to introduce a domain without a wire message. Fires @introduceDomain. */
  introduceDomain(domid: number, mfn = 0n, port = 0): void {
    this.introduce(domid, mfn, port);
  }

  isIntroduced(domid: number): boolean {
    return this.domains.get(domid)?.introduced ?? false;
  }

  /**
   * Forgets a domain: closes its ring, drops its watches and transactions, revokes its permissions
   * (what it owned passes to dom0) and fires @releaseDomain. Unknown domains are ignored.
   */
  release(domid: number): void {
    const entry = this.domains.get(domid);
    if (!entry) return;
    this.domains.delete(domid);
    entry.ring?.close("released");
    for (const [path, node] of this.tree.all()) {
      const perms = revokeDomain(node.perms, domid);
      if (perms !== node.perms) this.tree.put(path, { ...node, perms });
    }
    this.watches.fireSpecial("@releaseDomain");
  }

  /** Same as an XS_RELEASE from dom0. */
  releaseDomain(domid: number): void {
    this.release(domid);
  }

  /** XS_CONTROL: a minimal command set (print, help, quota). */
  control(args: string[]): string {
    const [cmd, ...rest] = args;
    if (cmd === "print") {
      this.log(`xenstored: ${rest.join(" ")}`);
      return "OK\0";
    }
    if (cmd === "help") return "help\nprint <text>\nquota\n\0";
    if (cmd === "quota") {
      return (
        Object.entries(this.quota)
          .map(([k, v]) => `${k} ${v}\n`)
          .join("") + "\0"
      );
    }
    throw new XsdError("EINVAL", `unknown control command "${cmd ?? ""}"`);
  }

  /** ServerCore (XS_SET_TARGET): `domid` (a device model) gets `target`'s rights from now on. */
  setTarget(domid: number, target: number): void {
    const entry = this.domains.get(domid);
    check(entry, "ENOENT", `domain ${domid} not introduced`);
    entry.target = target;
    if (entry.ring) entry.ring.who = { ...entry.ring.who, target };
  }

  private dropConnection(conn: Connection): void {
    this.watches.removeAll(conn);
    if (conn instanceof SocketConnection) this.sockets.delete(conn);
  }

  /** Live connections (sockets and domain rings), for introspection. */
  connections(): Connection[] {
    const rings = [...this.domains.values()].flatMap((d) => (d.ring ? [d.ring] : []));
    return [...this.sockets, ...rings];
  }

  /** Stops listening, drops every client. The store itself stays readable through the direct API. */
  async close(): Promise<void> {
    for (const c of [...this.sockets]) c.close("server closing");
    for (const d of this.domains.values()) d.ring?.close("server closing");
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.servers.length = 0;
  }
}
