import { describe, expect, it } from "vitest";
import { XenStoreClient } from "../src/xenbus/client.ts";
import {
  XenbusState,
  parseState,
  readState,
  switchState,
  waitForState,
  xenbusStateName,
} from "../src/xenbus/state.ts";
import { FakeXenstored } from "./helpers/fake-xenstored.ts";

function pair() {
  const page = new DataView(new SharedArrayBuffer(4096));
  let server!: FakeXenstored;
  const client = new XenStoreClient(page, () => setImmediate(() => server.poll()));
  server = new FakeXenstored(page, () => setImmediate(() => client.poll()), 4);
  return { client, server };
}

describe("xenbus state helpers", { timeout: 5000 }, () => {
  it("names and parses states, treating junk as Unknown", () => {
    expect(xenbusStateName(4)).toBe("Connected");
    expect(xenbusStateName(42)).toBe("state42");
    expect(parseState("6")).toBe(XenbusState.Closed);
    for (const junk of ["", "x", "9", "-1", "4.5", undefined])
      expect(parseState(junk)).toBe(XenbusState.Unknown);
  });

  it("switches our state and waits for the other end to reach Connected", async () => {
    const { client, server } = pair();
    const fe = "device/vif/0";
    const be = "/local/domain/0/backend/vif/4/0";
    server.set(`${be}/state`, String(XenbusState.InitWait));
    await switchState(client, fe, XenbusState.Initialised);
    expect(server.tree.get(`/local/domain/4/${fe}/state`)).toBe("3");
    const waiting = waitForState(client, be, (s) => s === XenbusState.Connected);
    setTimeout(() => server.set(`${be}/state`, String(XenbusState.Connected)), 5);
    expect(await waiting).toBe(XenbusState.Connected);
    expect(await readState(client, be)).toBe(XenbusState.Connected);
    // The watch is gone once the wait is over.
    await new Promise((r) => setTimeout(r, 5));
    expect(server.watches).toHaveLength(0);
  });

  it("times out naming the state the other end is stuck in", async () => {
    const { client, server } = pair();
    server.set("/be/state", "2");
    await expect(waitForState(client, "/be", (s) => s === 4, 50)).rejects.toThrow(/still InitWait/);
  });
});
