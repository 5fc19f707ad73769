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
import { ControlState, runControl } from "./control.ts";
import { DomainTable, type DomainExists } from "./domains.ts";
import { XsdError, check } from "./errors.ts";
import {
  handleRequest,
  describeRequest,
  type DomainState,
  type Requester,
  type ServerCore,
} from "./handlers.ts";
import { LocalClient } from "./local.ts";
import { StoreMemory } from "./memory.ts";
import { WriteRateLimit } from "./rate.ts";
import * as Op from "./operations.ts";
import type { Change } from "./operations.ts";
import { joinPath } from "./path.ts";
import { PERM_NONE, withoutDomain, type Perms } from "./perms.ts";
import { DEFAULT_QUOTA, type QuotaLimits } from "./quota.ts";
import { RingConnection } from "./ring.ts";
import { SocketConnection } from "./socket.ts";
import { Transaction } from "./transaction.ts";
import { Tree } from "./tree.ts";
import { WatchTable, type SpecialName } from "./watches.ts";
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
   * Whether a domain exists on the hypervisor (running, paused or shut down, not yet destroyed), as
   * C xenstored asks Xen. Default: every domain id exists (a store without a hypervisor).
   */
  domainExists?: DomainExists;
  /**
   * Called for XS_INTRODUCE (domid, store mfn, event channel port), and again when a domain is
   * introduced anew: map the domain's page and bind the port, and return them (or a promise of
   * them) to have the ring served; or return nothing and attach later with attachDomainRing(). A
   * throw (no such port) refuses the introduction with EINVAL.
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

/** Who may hear @introduceDomain and @releaseDomain until dom0 says otherwise: dom0 alone. */
const SPECIAL_DEFAULT: Perms = [{ id: 0, perm: PERM_NONE }];

export class Xenstored extends LocalClient implements ServerCore {
  readonly tree = new Tree();
  readonly watches: WatchTable;
  /** What each domain's nodes, watches and queued messages cost (memory.ts). */
  readonly memory: StoreMemory;
  /** Each guest's write credit (rate.ts). */
  readonly rate = new WriteRateLimit();
  /** The limits in force; `xenstore-control quota set` changes them in place. */
  readonly quota: QuotaLimits;
  /** Every domain xenstored knows of, and since when (domains.ts). */
  readonly domains: DomainTable;
  private readonly entries = new Map<number, DomainEntry>();
  private readonly special = new Map<SpecialName, Perms>();
  private readonly controlState = new ControlState();
  private readonly sockets = new Set<SocketConnection>();
  private readonly servers: Server[] = [];
  private readonly log: (line: string) => void;
  private nextSocketId = 1;

  constructor(private readonly options: XenstoredOptions = {}) {
    super();
    this.quota = { ...DEFAULT_QUOTA, ...options.quota };
    this.log = options.log ?? (() => undefined);
    this.domains = new DomainTable(options.domainExists ?? (() => true));
    this.memory = new StoreMemory(this.tree, this.quota, this.log);
    this.watches = new WatchTable(this.memory);
    // dom0 is introduced from the start, as C xenstored introduces it at boot.
    this.entries.set(0, { mfn: 0n, port: 0, introduced: true });
  }

  /** LocalClient: the direct API runs its requests here, as dom0. */
  protected core(): ServerCore {
    return this;
  }

  /**
   * Serves xs_wire on a unix socket (replacing a stale socket file). Resolves once listening.
   * Clients are dom0's privileged tools, or, with `asDomain`, act as that domain (unprivileged
   * unless 0): a host tool then sees exactly what the guest would, which is how pvkit tests guest
   * rights with Xen's own clients.
   */
  async listen(socketPath: string, opts: { asDomain?: number } = {}): Promise<void> {
    try {
      if (lstatSync(socketPath).isSocket()) unlinkSync(socketPath);
    } catch {
      // no stale socket
    }
    const server = createServer((s) => this.accept(s, opts.asDomain ?? 0));
    this.servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(socketPath, () => resolve());
    });
    chmodSync(socketPath, 0o600);
  }

  private accept(socket: Socket, domid: number): void {
    const conn = new SocketConnection(
      socket,
      this.nextSocketId++,
      (c, m) => this.handle(c, m),
      this.quota,
      this.log,
      domid,
    );
    conn.onClosed = (c) => this.dropConnection(c);
    conn.account = this.memory;
    this.sockets.add(conn);
  }

  /**
   * Serves domain `domid` over its xenstore page. The dom0 kernel must call the returned
   * connection's onEvent() whenever the domain kicks its xenstore port.
   */
  attachDomainRing(domid: number, page: DataView | Uint8Array, notify: () => void): RingConnection {
    const entry = this.entries.get(domid) ?? { mfn: 0n, port: 0, introduced: false };
    entry.ring?.close("replaced");
    const ring = new RingConnection(domid, page, notify, (c, m) => this.handle(c, m), this.quota, this.log);
    if (entry.target !== undefined) ring.who = { ...ring.who, target: entry.target };
    ring.onClosed = (c) => this.dropConnection(c);
    ring.account = this.memory;
    // A guest over its memory quota or out of write credit is not read from until it is back.
    ring.stalledFor = () => {
      if (this.memory.of(domid) >= this.quota.memoryPerDomain) return 100;
      return this.rate.blockedFor(domid);
    };
    entry.ring = ring;
    this.entries.set(domid, entry);
    ring.onEvent(); // requests written before we attached
    return ring;
  }

  /** Handles one request from any connection: reply (or XS_ERROR), then the request's after-work. */
  handle(conn: Connection, msg: XsMsg): void {
    conn.stats.requests++;
    this.controlState.trace(`IN ${conn.label} ${describeRequest(msg)}`);
    try {
      const r = handleRequest(this, conn, msg);
      const payload = typeof r.payload === "string" ? bytesOf(r.payload) : r.payload;
      conn.sendReply(msg.type, msg.reqId, msg.txId, payload);
      r.after?.();
      this.memory.noteSoft(conn.who.domid);
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

  /**
   * ServerCore (XS_INTRODUCE): a domain that exists gets its ring served and @introduceDomain
   * fires. Introducing it again rebinds its port and resets its connection (watches, transactions
   * and the ring's indexes), as Xen does for a guest that reconnects.
   */
  introduce(domid: number, mfn: bigint, port: number): void {
    check(this.domains.learn(domid, this.tree.generation), "EINVAL", `domain ${domid} does not exist`);
    const old = this.entries.get(domid);
    let mapped;
    try {
      mapped = this.options.mapDomainRing?.(domid, mfn, port);
    } catch (e) {
      throw new XsdError("EINVAL", `domain ${domid}: ${String(e)}`);
    }
    const attach = (r: DomainRing | undefined) => {
      // The domain may have been released while its page was being mapped.
      if (r && this.entries.get(domid)?.introduced) this.attachDomainRing(domid, r.page, r.notify);
    };
    if (old?.introduced) {
      old.mfn = mfn;
      old.port = port;
      if (old.ring) {
        this.watches.removeAll(old.ring);
        old.ring.reset();
      }
    } else this.entries.set(domid, { ...old, mfn, port, introduced: true });
    if (mapped instanceof Promise) {
      mapped.then(attach, (e) => this.log(`xenstored: mapping domain ${domid}'s ring failed: ${String(e)}`));
    } else attach(mapped);
    if (!old?.introduced && domid !== 0) {
      this.rate.domainNew(domid);
      this.watches.fireSpecial("@introduceDomain", this.specialPerms("@introduceDomain"));
    }
  }

  /** The toolstack's way to introduce a domain without a wire message. Fires @introduceDomain. */
  introduceDomain(domid: number, mfn = 0n, port = 0): void {
    this.introduce(domid, mfn, port);
  }

  isIntroduced(domid: number): boolean {
    return this.entries.get(domid)?.introduced ?? false;
  }

  /** ServerCore: where `domid` stands. */
  domainState(domid: number): DomainState {
    if (this.entries.get(domid)?.introduced) return "introduced";
    return this.domains.known(domid) ? "known" : "unknown";
  }

  /**
   * The domain is gone (XS_RELEASE, or the toolstack destroying it): its ring closes with its
   * watches and transactions, every node it owns is deleted with everything below (watches fire),
   * its entries leave the special names' lists, its record goes (a new domain with its id inherits
   * nothing), and @releaseDomain fires. C xenstored's -K would keep the nodes; pvkit does not.
   */
  release(domid: number): void {
    if (domid === 0) return;
    const entry = this.entries.get(domid);
    this.entries.delete(domid);
    if (entry?.ring) {
      this.watches.removeAll(entry.ring);
      entry.ring.close("released");
    }
    const changes = this.removeOwnedBy(domid);
    for (const [name, perms] of this.special) this.special.set(name, withoutDomain(perms, domid));
    this.domains.forget(domid);
    this.memory.forget(domid);
    this.rate.domainGone(domid);
    this.fire(changes);
    if (entry?.introduced) this.watches.fireSpecial("@releaseDomain", this.specialPerms("@releaseDomain"));
  }

  /** Same as an XS_RELEASE from dom0. */
  releaseDomain(domid: number): void {
    this.release(domid);
  }

  /** Deletes every subtree whose top node `domid` owns (domain_tree_remove); returns the changes. */
  private removeOwnedBy(domid: number): Change[] {
    if (this.tree.entries(domid) === 0) return [];
    const tx = new Transaction(0, this.tree);
    const ctx = {
      store: tx,
      who: { domid: 0, privileged: true },
      quota: this.quota,
      domains: this.domains,
      extraMemory: (d: number) => this.memory.extraOf(d),
      changes: tx.changes,
    };
    const stack = ["/"];
    while (stack.length > 0) {
      const path = stack.pop()!;
      const node = tx.get(path);
      if (!node) continue;
      if (node.perms[0].id === domid) Op.removeNode(ctx, path);
      else for (const c of node.children) stack.push(joinPath(path, c));
    }
    return tx.commit();
  }

  /** ServerCore: who may hear a special name, and set its list. */
  specialPerms(name: SpecialName): Perms {
    return this.special.get(name) ?? SPECIAL_DEFAULT;
  }

  setSpecialPerms(name: SpecialName, perms: Perms): void {
    this.special.set(name, perms);
  }

  /** ServerCore (XS_CONTROL): xenstore-control's commands (control.ts). */
  control(req: Requester, args: string[]): string {
    return runControl(
      {
        tree: this.tree,
        quota: this.quota,
        log: (l) => this.log(`xenstored: ${l}`),
        domainUse: (domid) => this.domainUse(domid),
        summary: () => this.summary(),
      },
      this.controlState,
      args,
    );
  }

  private domainUse(domid: number) {
    if (!this.domains.known(domid) && !this.entries.has(domid)) return undefined;
    const conns = this.connections().filter((c) => c.who.domid === domid);
    return {
      watches: conns.reduce((n, c) => n + this.watches.count(c), 0),
      transactions: conns.reduce((n, c) => n + c.transactions.size, 0),
      outstanding: conns.reduce((n, c) => n + c.backlogReplies, 0),
      memory: this.memory.of(domid),
    };
  }

  private summary(): string[] {
    return this.connections().map(
      (c) =>
        `${c.label}: ${this.watches.count(c)} watches, ${c.transactions.size} transactions, ` +
        `${c.stats.requests} requests, ${c.stats.eventsSent} events sent`,
    );
  }

  /** ServerCore (XS_SET_TARGET): `domid` (a device model) gets `target`'s rights from now on. */
  setTarget(domid: number, target: number): void {
    const entry = this.entries.get(domid);
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
    const rings = [...this.entries.values()].flatMap((d) => (d.ring ? [d.ring] : []));
    return [...this.sockets, ...rings];
  }

  /** Stops listening, drops every client. The store itself stays readable through the direct API. */
  async close(): Promise<void> {
    for (const c of [...this.sockets]) c.close("server closing");
    for (const d of this.entries.values()) d.ring?.close("server closing");
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.servers.length = 0;
  }
}
