import { afterEach, describe, expect, it, vi } from "vitest";
import * as X from "../src/dom0/xenstored/abi.ts";
import { Xenstored } from "../src/dom0/xenstored/index.ts";
import { XenStoreClient } from "../src/xenbus/client.ts";
import { TestConn } from "./xenstored-helpers.ts";

const L = X.XENSTORE_DOMAIN_INTERFACE;

/** xenstored and the guest kernel's own xenstore client on one shared page; kicks are setImmediate. */
function domain(domid: number, xs = new Xenstored()) {
  xs.mkdir(`/local/domain/${domid}`);
  xs.setPerms(`/local/domain/${domid}`, [`n${domid}`]);
  const page = new DataView(new SharedArrayBuffer(4096));
  let client!: XenStoreClient;
  const ring = xs.attachDomainRing(domid, page, () => setImmediate(() => client.poll()));
  client = new XenStoreClient(page, () => setImmediate(() => ring.onEvent()));
  return { xs, ring, client, page };
}

/** Writes raw bytes into the guest's req ring as a (possibly hostile) guest would. */
function guestWrite(page: DataView, bytes: Uint8Array): number {
  const prod = page.getUint32(L.req_prod, true);
  const cons = page.getUint32(L.req_cons, true);
  const n = Math.min(bytes.length, 1024 - (prod - cons));
  for (let i = 0; i < n; i++) page.setUint8(L.req + ((prod + i) & 1023), bytes[i]);
  page.setUint32(L.req_prod, prod + n, true);
  return n;
}

function header(type: number, reqId: number, len: number): Uint8Array {
  const h = new DataView(new ArrayBuffer(16));
  h.setUint32(0, type, true);
  h.setUint32(4, reqId, true);
  h.setUint32(12, len, true);
  return new Uint8Array(h.buffer);
}

describe("the ring transport", { timeout: 30_000 }, () => {
  afterEach(() => void vi.useRealTimers());
  it("serves the guest's xenstore client: relative paths, big values, transactions, watches", async () => {
    const { xs, client } = domain(3);
    await client.write("name", "guest-3");
    expect(xs.read("/local/domain/3/name")).toBe("guest-3");
    expect(await client.read("/local/domain/3/name")).toBe("guest-3");
    const big = "v".repeat(2000); // larger than the 1 KiB ring: crosses it in pieces both ways
    await client.write("big", big);
    await expect(client.write("huge", "v".repeat(3000))).rejects.toThrow(/ENOSPC/); // node-size quota
    expect(await client.read("big")).toBe(big);
    const events: string[] = [];
    await client.watch("data", (p) => events.push(p));
    await client.transaction(async (tx) => {
      await tx.write("data/a", "1");
      await tx.write("data/b", "2");
    });
    await client.rm("data/a");
    for (let i = 0; i < 50 && events.length < 4; i++) await new Promise((r) => setImmediate(r));
    expect(events).toEqual(["data", "data/a", "data/b", "data/a"]);
    expect(await client.directory("data")).toEqual(["b"]);
    await expect(client.read("/local/domain/0")).rejects.toThrow(/ENOENT|EACCES/);
  });

  it("a guest that never consumes replies is throttled in its own ring; others are served", async () => {
    const xs = new Xenstored({ quota: { outstandingReplies: 4 } });
    xs.mkdir("/local/domain/4");
    xs.setPerms("/local/domain/4", ["n4"]);
    const page = new DataView(new SharedArrayBuffer(4096));
    const ring = xs.attachDomainRing(4, page, () => undefined);
    // 60 reads of a 3000-byte value: far more reply bytes than the 1 KiB rsp ring holds.
    xs.write("/local/domain/4/v", "x".repeat(3000));
    const req = new Uint8Array([...header(X.XS_READ, 1, 2), 0x76, 0]); // "v\0"
    let written = 0;
    for (let i = 0; i < 60; i++) {
      const n = guestWrite(page, req);
      ring.onEvent();
      if (n < req.length) break;
      written++;
    }
    expect(ring.backlogReplies).toBeLessThanOrEqual(4);
    expect(ring.stats.requests).toBeLessThanOrEqual(5);
    // The rest stayed in the guest's req ring (back-pressure), not in xenstored's memory.
    expect(written).toBeGreaterThan(ring.stats.requests);
    // Meanwhile another domain is served normally.
    const other = domain(5, xs);
    await other.client.write("ok", "yes");
    expect(await other.client.read("ok")).toBe("yes");
  });

  it("watch events for a guest that never drains its rsp ring are capped, then dropped", () => {
    const xs = new Xenstored({ quota: { outstandingEvents: 16 } });
    const page = new DataView(new SharedArrayBuffer(4096));
    const ring = xs.attachDomainRing(4, page, () => undefined);
    xs.mkdir("/ev");
    xs.setPerms("/ev", ["n0", "r4"]); // children inherit: domain 4 may see the events
    const w = new Uint8Array([...header(X.XS_WATCH, 1, 8), ...Buffer.from("/ev\0tok\0")]);
    guestWrite(page, w);
    ring.onEvent();
    for (let i = 0; i < 500; i++) xs.write(`/ev/${i}`, "x");
    expect(page.getUint32(L.rsp_prod, true) - page.getUint32(L.rsp_cons, true)).toBe(1024); // ring full
    expect(ring.backlogEvents).toBe(16);
    expect(ring.stats.eventsDropped).toBeGreaterThan(400);
    expect(ring.closed).toBe(false);
  });

  it("a guest's watch events that wait unsent past their time are dropped, as Xen's 20 s timeout", () => {
    vi.useFakeTimers({ toFake: ["Date"] }); // the clock moves only when the test says so
    const xs = new Xenstored();
    const page = new DataView(new SharedArrayBuffer(4096));
    const ring = xs.attachDomainRing(4, page, () => undefined);
    xs.mkdir("/ev");
    xs.setPerms("/ev", ["n0", "r4"]);
    guestWrite(page, new Uint8Array([...header(X.XS_WATCH, 1, 8), ...Buffer.from("/ev\0tok\0")]));
    ring.onEvent();
    for (let i = 0; i < 100; i++) xs.write(`/ev/${i}`, "x"); // far more than fit in the rsp ring
    const waiting = ring.backlogEvents;
    expect(waiting).toBeGreaterThan(10);
    vi.setSystemTime(Date.now() + 20_001); // past Xen's 20 s
    page.setUint32(L.rsp_cons, page.getUint32(L.rsp_prod, true), true); // the guest catches up
    const dropped = ring.stats.eventsDropped;
    ring.onEvent();
    // The one the ring had begun to take is finished; every other stale event is gone.
    expect(ring.backlogEvents).toBe(0);
    expect(ring.stats.eventsDropped).toBeGreaterThanOrEqual(dropped + waiting - 1);
    // A fresh event goes out.
    const sent = ring.stats.eventsSent;
    xs.write("/ev/fresh", "x");
    expect(ring.stats.eventsSent).toBe(sent + 1);
  });

  it("an oversize length or a corrupt index disables only that ring, with the error field set", async () => {
    const { xs, ring, page } = domain(6);
    guestWrite(page, header(X.XS_READ, 1, 5000));
    ring.onEvent();
    expect(page.getUint32(L.error, true)).toBe(X.XENSTORE_ERROR_PROTO);
    expect(ring.closed).toBe(true);

    const b = domain(7, xs);
    b.page.setUint32(L.req_prod, 5000, true); // prod - cons > ring size
    b.ring.onEvent();
    expect(b.page.getUint32(L.error, true)).toBe(X.XENSTORE_ERROR_RINGIDX);

    const c = domain(8, xs);
    await c.client.write("fine", "1");
    expect(xs.read("/local/domain/8/fine")).toBe("1");
  });

  it("XS_SET_TARGET lets a device-model domain act for its target", async () => {
    const { xs, client } = domain(8);
    xs.mkdir("/local/domain/5");
    xs.setPerms("/local/domain/5", ["n5"]);
    xs.write("/local/domain/5/secret", "s");
    await expect(client.read("/local/domain/5/secret")).rejects.toThrow(/EACCES/);
    const dom0 = new TestConn(xs, 0);
    // Both must be introduced: unknown is ENOENT, known (named in perms) but not introduced EINVAL.
    expect(dom0.req(X.XS_SET_TARGET, "9\x005\0").error).toBe("ENOENT");
    expect(dom0.req(X.XS_SET_TARGET, "8\x005\0").error).toBe("EINVAL");
    xs.introduceDomain(8);
    expect(dom0.req(X.XS_SET_TARGET, "8\x005\0").error).toBe("EINVAL");
    xs.introduceDomain(5);
    expect(dom0.req(X.XS_SET_TARGET, "8\x005\0").text).toBe("OK\0");
    expect(await client.read("/local/domain/5/secret")).toBe("s");
    expect(new TestConn(xs, 6).req(X.XS_SET_TARGET, "6\x005\0").error).toBe("EACCES");
  });

  it("garbage requests on the ring get XS_ERROR replies and the ring keeps working", async () => {
    const { ring, page, client } = domain(9);
    guestWrite(page, new Uint8Array([...header(77, 42, 2), 0x61, 0])); // unknown type
    ring.onEvent();
    const rsp = new Uint8Array(page.buffer, L.rsp, 32);
    const v = new DataView(page.buffer, L.rsp);
    expect(v.getUint32(0, true)).toBe(X.XS_ERROR);
    expect(v.getUint32(4, true)).toBe(42);
    expect(Buffer.from(rsp.subarray(16, 16 + v.getUint32(12, true))).toString()).toBe("ENOSYS\0");
    // Skip that reply as the guest would, then use the client normally.
    page.setUint32(L.rsp_cons, page.getUint32(L.rsp_prod, true), true);
    await client.write("after", "ok");
    expect(await client.read("after")).toBe("ok");
  });
});
