import { describe, expect, it } from "vitest";
import * as X from "../src/dom0/xenstored/abi.ts";
import { Xenstored } from "../src/dom0/xenstored/index.ts";
import { TestConn } from "./xenstored-helpers.ts";

describe("watches", () => {
  it("fire once on registration, then on every change at or under the path", () => {
    const xs = new Xenstored();
    const c = new TestConn(xs, 0);
    expect(c.req(X.XS_WATCH, "/a\0tok\0").text).toBe("OK\0");
    expect(c.events()).toEqual(["/a tok"]); // fires although /a does not exist yet
    xs.write("/a/b/c", "1");
    xs.write("/ab", "no"); // a sibling with a common prefix is not under /a
    xs.write("/", "root"); // nor is a parent
    xs.write("/a", "2");
    expect(c.events()).toEqual(["/a/b/c tok", "/a tok"]);
    xs.rm("/a/b");
    expect(c.events()).toEqual(["/a/b tok"]);
    expect(c.req(X.XS_UNWATCH, "/a\0tok\0").text).toBe("OK\0");
    xs.write("/a/x", "1");
    expect(c.events()).toEqual([]);
  });

  it("removing a subtree fires watches set inside it, with their own path", () => {
    const xs = new Xenstored();
    const c = new TestConn(xs, 0);
    xs.write("/d/e/f", "1");
    c.req(X.XS_WATCH, "/d/e/f\0deep\0");
    c.events();
    xs.rm("/d");
    expect(c.events()).toEqual(["/d/e/f deep"]);
  });

  it("relative watches report relative paths; events respect read permission", () => {
    const xs = new Xenstored();
    xs.mkdir("/local/domain/5");
    xs.setPerms("/local/domain/5", ["n5"]);
    const d5 = new TestConn(xs, 5);
    const d6 = new TestConn(xs, 6);
    expect(d5.req(X.XS_WATCH, "device\0rel\0").text).toBe("OK\0");
    expect(d6.req(X.XS_WATCH, "/local/domain/5\0spy\0").text).toBe("OK\0");
    expect(d5.events()).toEqual(["device rel"]);
    d6.events();
    xs.write("/local/domain/5/device/vif/0", "x"); // dom0 writes: owned by dom0, perms n5
    expect(d5.events()).toEqual(["device/vif/0 rel"]);
    expect(d6.events()).toEqual([]); // 6 cannot read domain 5's nodes
  });

  it("events of a transaction fire at commit, and not at all on abort or conflict", () => {
    const xs = new Xenstored();
    const w = new TestConn(xs, 0);
    w.req(X.XS_WATCH, "/t\0t\0");
    w.events();
    const a = new TestConn(xs, 0);
    const tx = Number.parseInt(a.req(X.XS_TRANSACTION_START, "\0").text, 10);
    a.req(X.XS_WRITE, "/t/x\x001", tx);
    expect(w.events()).toEqual([]);
    a.req(X.XS_TRANSACTION_END, "T\0", tx);
    expect(w.events()).toEqual(["/t/x t"]);
    const tx2 = Number.parseInt(a.req(X.XS_TRANSACTION_START, "\0").text, 10);
    a.req(X.XS_WRITE, "/t/y\x001", tx2);
    a.req(X.XS_TRANSACTION_END, "F\0", tx2);
    expect(w.events()).toEqual([]);
  });

  it("@introduceDomain and @releaseDomain fire on domain events, over the wire too", () => {
    const xs = new Xenstored();
    const c = new TestConn(xs, 0);
    c.req(X.XS_WATCH, "@introduceDomain\0i\0");
    c.req(X.XS_WATCH, "@releaseDomain\0r\0");
    // Any @name may be watched (only the two domain events ever fire); @bogus is not a node.
    expect(c.req(X.XS_WATCH, "@bogus\0b\0").text).toBe("OK\0");
    expect(c.req(X.XS_READ, "@bogus\0").error).toBe("EINVAL");
    expect(c.events()).toEqual(["@introduceDomain i", "@releaseDomain r", "@bogus b"]);
    expect(c.req(X.XS_IS_DOMAIN_INTRODUCED, "3\0").text).toBe("F\0");
    expect(c.req(X.XS_INTRODUCE, "3\x001234\x007\0").text).toBe("OK\0");
    expect(c.req(X.XS_IS_DOMAIN_INTRODUCED, "3\0").text).toBe("T\0");
    expect(c.events()).toEqual(["@introduceDomain i"]);
    expect(c.req(X.XS_RELEASE, "3\0").text).toBe("OK\0");
    expect(c.events()).toEqual(["@releaseDomain r"]);
    expect(c.req(X.XS_RELEASE, "3\0").error).toBe("ENOENT");
    xs.introduceDomain(4);
    expect(c.events()).toEqual(["@introduceDomain i"]);
  });

  it("XS_INTRODUCE asks the toolstack to map the ring and serves it", () => {
    const page = new Uint8Array(new SharedArrayBuffer(4096));
    const seen: Array<[number, bigint, number]> = [];
    const xs = new Xenstored({
      mapDomainRing: (domid, mfn, port) => {
        seen.push([domid, mfn, port]);
        return { page, notify: () => undefined };
      },
    });
    new TestConn(xs, 0).req(X.XS_INTRODUCE, "9\x00777\x0012\0");
    expect(seen).toEqual([[9, 777n, 12]]);
    expect(xs.connections().some((c) => c.label === "domain 9")).toBe(true);
    const features = new DataView(page.buffer).getUint32(X.XENSTORE_DOMAIN_INTERFACE.server_features, true);
    expect(features & X.XENSTORE_SERVER_FEATURE_ERROR).toBeTruthy();
  });

  it("a client that does not read its events gets a bounded backlog; the rest are dropped", () => {
    const xs = new Xenstored({ quota: { outstandingEvents: 8 } });
    const lazy = new TestConn(xs, 0);
    const busy = new TestConn(xs, 0);
    lazy.req(X.XS_WATCH, "/f\0t\0");
    busy.req(X.XS_WATCH, "/f\0t\0");
    lazy.events();
    busy.events();
    lazy.hold = true;
    for (let i = 0; i < 100; i++) xs.write(`/f/${i}`, "x");
    expect(lazy.backlogEvents).toBe(8);
    expect(lazy.stats.eventsDropped).toBe(92);
    expect(busy.events()).toHaveLength(100); // the other client got everything
    lazy.release();
    expect(lazy.events()).toHaveLength(8);
  });

  it("the direct API's watch calls back asynchronously and unwatches", async () => {
    const xs = new Xenstored();
    const got: string[] = [];
    const unwatch = xs.watch("/dir", (p) => got.push(p));
    xs.write("/dir/k", "v");
    expect(got).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(got).toEqual(["/dir", "/dir/k"]);
    unwatch();
    xs.write("/dir/k2", "v");
    await new Promise((r) => setImmediate(r));
    expect(got).toHaveLength(2);
  });
});
