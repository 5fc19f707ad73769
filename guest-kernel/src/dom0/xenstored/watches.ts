/**
 * Watches: (path, token) pairs a connection registers; a change at or under the path queues an
 * XS_WATCH_EVENT "path\0token\0" to it. Deleting a subtree also fires watches set inside it (with
 * their own path). Special names (@introduceDomain, @releaseDomain) fire on domain events only.
 * Firing only queues events: delivery and its backlog policy belong to the connection.
 */
import { check } from "./errors.ts";
import { canonicalPath, isAtOrUnder, isSpecialPath, presentPath } from "./path.ts";
import type { Caller } from "./perms.ts";
import type { Change } from "./operations.ts";
import { mayRead } from "./operations.ts";

/** The special watch names Xen defines. */
export const SPECIAL_WATCHES = ["@introduceDomain", "@releaseDomain"] as const;

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

  /** Number of watches `sink` holds (its quota counter). */
  count(sink: WatchSink): number {
    return this.bySink.get(sink)?.length ?? 0;
  }

  /**
   * Registers a watch; EEXIST for a duplicate (path, token), E2BIG past `limit` (unprivileged only),
   * EINVAL for a bad path or an unknown special name. Returns it so the caller can fire the initial
   * event after its reply.
   */
  add(sink: WatchSink, rawPath: string, token: string, limit: number): Watch {
    const special = isSpecialPath(rawPath);
    if (special)
      check((SPECIAL_WATCHES as readonly string[]).includes(rawPath), "EINVAL", "unknown special watch");
    const path = special ? rawPath : canonicalPath(rawPath, sink.who.domid);
    const list = this.bySink.get(sink) ?? [];
    check(!list.some((w) => w.path === path && w.token === token), "EEXIST");
    check(sink.who.privileged || list.length < limit, "E2BIG", "watch quota exceeded");
    const w = { path, token, relative: !special && !rawPath.startsWith("/") };
    list.push(w);
    this.bySink.set(sink, list);
    return w;
  }

  /** XS_UNWATCH; ENOENT when no such watch. */
  remove(sink: WatchSink, rawPath: string, token: string): void {
    const path = isSpecialPath(rawPath) ? rawPath : canonicalPath(rawPath, sink.who.domid);
    const list = this.bySink.get(sink) ?? [];
    const i = list.findIndex((w) => w.path === path && w.token === token);
    check(i >= 0, "ENOENT");
    list.splice(i, 1);
  }

  /** Drops every watch of `sink` (XS_RESET_WATCHES, disconnect, release). */
  removeAll(sink: WatchSink): void {
    this.bySink.delete(sink);
  }

  /** The event a watch sends when it is registered: its own path, as the client spelt it. */
  fireInitial(sink: WatchSink, w: Watch): void {
    sink.watchEvent(presentPath(w.path, w.relative, sink.who.domid), w.token);
  }

  /** Queues events for one store change to every watcher allowed to read the node. */
  fire(change: Change): void {
    for (const [sink, list] of this.bySink) {
      if (!mayRead(change.perms, sink.who)) continue;
      for (const w of list) {
        let hit: string | undefined;
        if (isAtOrUnder(change.path, w.path)) hit = change.path;
        else if (change.recursive && isAtOrUnder(w.path, change.path)) hit = w.path;
        if (hit !== undefined) sink.watchEvent(presentPath(hit, w.relative, sink.who.domid), w.token);
      }
    }
  }

  /** Fires a special watch (@introduceDomain / @releaseDomain) at everyone watching it. */
  fireSpecial(name: (typeof SPECIAL_WATCHES)[number]): void {
    for (const [sink, list] of this.bySink) {
      for (const w of list) if (w.path === name) sink.watchEvent(name, w.token);
    }
  }
}
