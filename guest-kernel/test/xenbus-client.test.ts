import { describe, expect, it } from "vitest";
import { XenStoreClient } from "../src/xenbus/client.ts";
import { XENSTORE_RING } from "../src/kernel/xen.ts";
import { XS, XsError, encodeMessage } from "../src/xenbus/wire.ts";
import { ByteRing } from "../src/kernel/bytering.ts";
import { FakeXenstored } from "./helpers/fake-xenstored.ts";

/**
 * A client and a fake xenstored sharing one ring page, each "event channel" a setImmediate;
 * `events.toServer` counts the client's.
 */
function pair() {
  const page = new DataView(new SharedArrayBuffer(4096));
  let server!: FakeXenstored;
  const errors: unknown[] = [];
  const events = { toServer: 0 };
  const client = new XenStoreClient(
    page,
    () => {
      events.toServer++;
      setImmediate(() => server.poll());
    },
    (e) => errors.push(e),
  );
  server = new FakeXenstored(page, () => setImmediate(() => client.poll()), 7);
  return { client, server, errors, events, page };
}

describe("XenStoreClient over the xenstore ring", { timeout: 5000 }, () => {
  it("writes, reads back and lists", async () => {
    const { client } = pair();
    await client.write("/local/domain/7/name", "guest");
    await client.write("data/a", "1");
    await client.mkdir("data/b");
    expect(await client.read("name")).toBe("guest");
    expect(await client.read("/local/domain/7/data/a")).toBe("1");
    expect((await client.directory("data")).sort()).toEqual(["a", "b"]);
    expect(await client.getDomainPath(7)).toBe("/local/domain/7");
  });

  it("reports a missing key as ENOENT, and tryRead gives undefined", async () => {
    const { client } = pair();
    const err = await client.read("nope").catch((e) => e);
    expect(err).toBeInstanceOf(XsError);
    expect(err.code).toBe("ENOENT");
    expect(err.errno).toBe(2);
    expect(await client.tryRead("nope")).toBeUndefined();
  });

  it("rm removes a subtree", async () => {
    const { client } = pair();
    await client.write("d/x/y", "1");
    await client.rm("d/x");
    expect(await client.tryRead("d/x/y")).toBeUndefined();
    expect(await client.directory("d")).toEqual([]);
  });

  it("carries values larger than the 1024-byte ring, in both directions", async () => {
    const { client } = pair();
    const big = "x".repeat(3000) + "end";
    await client.write("big", big);
    expect(await client.read("big")).toBe(big);
  });

  it("runs many requests in flight at once and matches replies by req_id", async () => {
    const { client } = pair();
    await Promise.all(Array.from({ length: 40 }, (_, i) => client.write(`k/${i}`, `v${i}`)));
    const vals = await Promise.all(Array.from({ length: 40 }, (_, i) => client.read(`k/${i}`)));
    expect(vals).toEqual(Array.from({ length: 40 }, (_, i) => `v${i}`));
    expect(client.inFlight).toBe(0);
  });

  it("puts requests made together on the ring behind one event", async () => {
    const { client, events, page } = pair();
    const done = Promise.all([
      client.write("control/feature-poweroff", "1"),
      client.write("control/feature-reboot", "1"),
      client.watch("control/shutdown", () => undefined),
      client.directory("device").catch(() => []),
    ]);
    expect(events.toServer).toBe(0); // nothing sent until the code that asked is done
    await Promise.resolve();
    expect(events.toServer).toBe(1);
    const reqProd = page.getUint32(XENSTORE_RING.reqProd, true);
    expect(reqProd).toBeGreaterThan(4 * 16); // all four requests (a header each, and payloads)
    await done;
    expect(client.inFlight).toBe(0);
  });

  it("tells the server it made room only after reading from a full ring", async () => {
    const { client, events } = pair();
    await client.write("small", "v");
    events.toServer = 0;
    expect(await client.read("small")).toBe("v");
    expect(events.toServer).toBe(1); // the request: a short reply leaves room to spare
    await client.write("big", "y".repeat(3000));
    events.toServer = 0;
    expect((await client.read("big")).length).toBe(3000);
    // A 3016-byte reply through the 1024-byte ring: the server waits for room twice at least.
    expect(events.toServer).toBeGreaterThanOrEqual(3);
  });

  it("tells the server of room when it filled the ring while the client read", () => {
    // dom0 writes replies on its own thread while the guest reads. Here it fills the ring in the
    // instant between the client noting where its read begins and the read itself: the read then
    // takes a full ring's worth, and the server waits for an event that only the client can send.
    const page = new DataView(new SharedArrayBuffer(4096));
    let notifies = 0;
    const client = new XenStoreClient(page, () => notifies++);
    const R = XENSTORE_RING;
    const server = new ByteRing(page, { data: R.rsp, size: R.size, cons: R.rspCons, prod: R.rspProd });
    const reply = encodeMessage(XS.READ, 1, 0, new Uint8Array(2000)); // longer than the ring
    expect(server.write(reply.subarray(0, 516))).toBe(516);
    const rsp = (client as unknown as { rsp: ByteRing }).rsp;
    const read = rsp.read.bind(rsp);
    let raced = false;
    rsp.read = (max?: number) => {
      if (!raced) {
        raced = true;
        expect(server.write(reply.subarray(516))).toBe(R.size - 516); // full: the rest waits
      }
      return read(max);
    };
    client.poll();
    expect(raced).toBe(true);
    expect(server.space()).toBe(R.size); // the client took all of it...
    expect(notifies).toBe(1); // ...and said so
  });

  it("delivers watch events: once at registration, then per change, none after unwatch", async () => {
    const { client, server } = pair();
    const seen: string[] = [];
    let wake: () => void = () => undefined;
    const token = await client.watch("control", (path) => {
      seen.push(path);
      wake();
    });
    const next = () => new Promise<void>((r) => (wake = r));
    if (seen.length === 0) await next();
    expect(seen).toEqual(["/local/domain/7/control"]);
    const p = next();
    server.set("control/shutdown", "poweroff");
    await p;
    expect(seen[1]).toBe("/local/domain/7/control/shutdown");
    await client.unwatch(token);
    server.set("control/shutdown", "reboot");
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toHaveLength(2);
  });

  it("commits a transaction and retries it when the commit fails with EAGAIN", async () => {
    const { client, server } = pair();
    await client.write("counter", "0");
    server.failCommits = 2;
    let runs = 0;
    const result = await client.transaction(async (tx) => {
      runs++;
      const n = Number(await tx.read("counter"));
      await tx.write("counter", String(n + 1));
      return n + 1;
    });
    expect(runs).toBe(3);
    expect(result).toBe(1);
    expect(await client.read("counter")).toBe("1");
    expect(server.commits).toBe(1);
  });

  it("aborts a transaction whose body throws, leaving the store unchanged", async () => {
    const { client } = pair();
    await client.write("k", "before");
    await expect(
      client.transaction(async (tx) => {
        await tx.write("k", "during");
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(await client.read("k")).toBe("before");
  });

  it("gives up on a reply header claiming more than XENSTORE_PAYLOAD_MAX", async () => {
    const page = new DataView(new SharedArrayBuffer(4096));
    const client = new XenStoreClient(page, () => undefined);
    const p = client.read("x");
    // Hostile server: a header with len = 1 MiB.
    page.setUint32(1024 + 0, 2, true);
    page.setUint32(1024 + 4, 1, true);
    page.setUint32(1024 + 12, 1 << 20, true);
    page.setUint32(2060, 16, true);
    client.poll();
    await expect(p).rejects.toMatchObject({ code: "EIO" });
    await expect(client.read("y")).rejects.toMatchObject({ code: "EIO" });
  });

  it("refuses a payload over 4096 bytes without touching the ring", async () => {
    const { client } = pair();
    await expect(client.write("k", "z".repeat(5000))).rejects.toMatchObject({ code: "E2BIG" });
  });
});
