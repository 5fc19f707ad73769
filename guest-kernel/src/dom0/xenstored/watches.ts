/**
 * Watches: (path, token) pairs a connection registers; a change at or under the path queues an
 * XS_WATCH_EVENT "path\0token\0" to it. Deleting a subtree fires, for every node removed, the
 * watches on exactly that node. A watch may name any special "@..." name; only @introduceDomain and
 * @releaseDomain ever fire, on domain events, and only to connections their permission lists let
 * read them. Firing only queues events: delivery and its backlog policy belong to the connection.
 */
import { check } from "./errors.ts";
import type { MemoryAccount } from "./memory.ts";
import { domainPath, isAtOrUnder, presentPath, watchPath } from "./path.ts";
import { PERM_READ, accessFor, type Caller, type Perms } from "./perms.ts";
import type { Change } from "./operations.ts";
import { mayRead } from "./operations.ts";

/** The special names that fire. */
export const SPECIAL_WATCHES = ["@introduceDomain", "@releaseDomain"] as const;
export type SpecialName = (typeof SPECIAL_WATCHES)[number];

/** Whoever can receive watch events: a connection, or the in-process dom0 API. */
export interface WatchSink {
  readonly who: Caller;
  /** Queue one XS_WATCH_EVENT; the sink decides what to do when its client is not reading. */
  watchEvent(path: string, token: string): void;
}

/** One registered watch. `path` is canonical; `relative` remembers how the client spelt it. */
export interface Watch {
  readonly path: string;
  readonly token: string;
  readonly relative: boolean;
}

export class WatchTable {
  private readonly bySink = new Map<WatchSink, Watch[]>();

  /** @param account charges each watch (its path and token) to the watcher's domain */
  constructor(private readonly account?: MemoryAccount) {}

  private cost = (w: Watch) => w.path.length + w.token.length;

  /** Number of watches `sink` holds (its quota counter). */
  count(sink: WatchSink): number {
    return this.bySink.get(sink)?.length ?? 0;
  }

  /**
   * Registers a watch; EEXIST for a duplicate (path, token), E2BIG past `limit` (unprivileged only),
   * EINVAL for a bad path or an unknown special name. Returns it so the caller can fire the initial
   * event after its reply.
   */
  add(sink: WatchSink, rawPath: string, token: string, limit: number, pathMax?: number): Watch {
    const path = watchPath(rawPath, sink.who.domid, pathMax);
    const list = this.bySink.get(sink) ?? [];
    check(!list.some((w) => w.path === path && w.token === token), "EEXIST");
    // Xen refuses only once more than the quota are set (domain_watch(conn) > quota).
    check(sink.who.privileged || list.length <= limit, "E2BIG", "watch quota exceeded");
    const w = { path, token, relative: !rawPath.startsWith("/") && !rawPath.startsWith("@") };
    const charged = this.account?.charge(sink.who.domid, this.cost(w), !sink.who.privileged) ?? true;
    check(charged, "ENOMEM", "store memory quota exceeded");
    list.push(w);
    this.bySink.set(sink, list);
    return w;
  }

  /** XS_UNWATCH; ENOENT when no such watch (whatever the path). */
  remove(sink: WatchSink, rawPath: string, token: string): void {
    // Xen only resolves a relative path here; one that could not be a watch is simply not found.
    const relative = !rawPath.startsWith("/") && !rawPath.startsWith("@");
    const path = relative ? `${domainPath(sink.who.domid)}/${rawPath}` : rawPath;
    const list = this.bySink.get(sink) ?? [];
    const i = list.findIndex((w) => w.path === path && w.token === token);
    check(i >= 0, "ENOENT");
    this.account?.release(sink.who.domid, this.cost(list[i]));
    list.splice(i, 1);
  }

  /** Drops every watch of `sink` (XS_RESET_WATCHES, disconnect, release). */
  removeAll(sink: WatchSink): void {
    for (const w of this.bySink.get(sink) ?? []) this.account?.release(sink.who.domid, this.cost(w));
    this.bySink.delete(sink);
  }

  /** The event a watch sends when it is registered: its own path, as the client spelt it. */
  fireInitial(sink: WatchSink, w: Watch): void {
    sink.watchEvent(presentPath(w.path, w.relative, sink.who.domid), w.token);
  }

  /** Queues events for one store change to every watcher allowed to hear of it. */
  fire(change: Change): void {
    for (const [sink, list] of this.bySink) {
      if (!mayRead(change.perms, sink.who)) continue;
      for (const w of list) {
        const hit = change.exact ? change.path === w.path : isAtOrUnder(change.path, w.path);
        if (hit) sink.watchEvent(presentPath(change.path, w.relative, sink.who.domid), w.token);
      }
    }
  }

  /** Fires a special name at everyone watching it whom `perms` (the name's list) lets read it. */
  fireSpecial(name: SpecialName, perms: Perms): void {
    for (const [sink, list] of this.bySink) {
      if ((accessFor(perms, sink.who) & PERM_READ) === 0) continue;
      for (const w of list) if (w.path === name) sink.watchEvent(name, w.token);
    }
  }
}
