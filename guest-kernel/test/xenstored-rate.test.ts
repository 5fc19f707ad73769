/**
 * The write rate limit (C xenstored's wrl): credit arithmetic on a clock the test moves, then a
 * guest on a real ring that writes while another client holds a transaction open.
 */
import { describe, expect, it } from "vitest";
import * as X from "../src/dom0/xenstored/abi.ts";
import { Xenstored } from "../src/dom0/xenstored/index.ts";
import { WriteRateLimit } from "../src/dom0/xenstored/rate.ts";
import { XenStoreClient } from "../src/xenbus/client.ts";
import { TestConn } from "./xenstored-helpers.ts";

describe("write rate limit", () => {
  it("a new domain gets a burst of 10 writes, then refills at 200/s shared with dom0", () => {
    let now = 0;
    const wrl = new WriteRateLimit(() => now);
    wrl.domainNew(5);
    wrl.debit(5, 10);
    expect(wrl.blockedFor(5)).toBe(0);
    wrl.debit(5);
    // One write in debt; 200 units a second over two domains (5 and dom0): 10 ms to earn it.
    expect(wrl.blockedFor(5)).toBe(10);
    now += 5;
    expect(wrl.blockedFor(5)).toBe(5);
    now += 5;
    expect(wrl.blockedFor(5)).toBe(0);
    // dom0 and domains never introduced are not limited.
    wrl.debit(0, 1000);
    wrl.debit(9, 1000);
    expect([wrl.blockedFor(0), wrl.blockedFor(9)]).toEqual([0, 0]);
    // A long idle time refills one burst; the rest goes to the common reserve (up to 1000
    // writes), which then covers a domain in debt.
    now += 60_000;
    wrl.debit(5, 10);
    expect(wrl.blockedFor(5)).toBe(0);
    wrl.debit(5, 500);
    expect(wrl.blockedFor(5)).toBe(0);
    wrl.debit(5, 1000);
    expect(wrl.blockedFor(5)).toBeGreaterThan(0);
  });

  it("limits a guest's writes only while a transaction is open somewhere; its requests wait in its ring", async () => {
    const xs = new Xenstored();
    xs.mkdir("/local/domain/4");
    xs.setPerms("/local/domain/4", ["n4"]);
    const page = new DataView(new SharedArrayBuffer(4096));
    let client!: XenStoreClient;
    const ring = xs.attachDomainRing(4, page, () => setImmediate(() => client.poll()));
    client = new XenStoreClient(page, () => setImmediate(() => ring.onEvent()));
    xs.introduceDomain(4);
    const burst = async (tag: string) => {
      for (let i = 0; i < 40; i++) await client.write(`${tag}${i}`, "v");
    };
    await burst("free");
    expect(ring.stats.stalls).toBe(0);
    const other = new TestConn(xs, 0);
    const tx = other.req(X.XS_TRANSACTION_START, "\0").text.replace("\0", "");
    await burst("held");
    expect(ring.stats.stalls).toBeGreaterThan(0);
    expect(xs.read("/local/domain/4/held39")).toBe("v");
    expect(other.req(X.XS_TRANSACTION_END, "F\0", Number(tx)).text).toBe("OK\0");
  });
});
