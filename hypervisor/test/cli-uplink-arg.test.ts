/**
 * `pvkit up --uplink <bridge>=vxlan:...` is checked before anything boots: a bad bridge name or spec
 * is one line naming what is wrong.
 */
import { describe, expect, it } from "vitest";
import { parseUplinkArg } from "../src/cli/uplink.ts";

describe("--uplink", () => {
  it("takes <bridge>=vxlan:<local-port>:<remote-ip>:<remote-port>:<vni>", () => {
    expect(parseUplinkArg("pvbr0=vxlan:4789:127.0.0.1:4790:42")).toEqual({
      bridge: "pvbr0",
      spec: "vxlan:4789:127.0.0.1:4790:42",
    });
  });

  it("refuses a missing bridge, a long name and a bad spec in one line", () => {
    expect(() => parseUplinkArg("vxlan:4789:127.0.0.1:4790:42")).toThrow(
      /^pvkit: up: --uplink: "vxlan:4789:127.0.0.1:4790:42" is not <bridge>=vxlan:/,
    );
    expect(() => parseUplinkArg("a-very-long-bridge-name=vxlan:1:127.0.0.1:1:1")).toThrow(/is not <bridge>=/);
    expect(() => parseUplinkArg("br0=vxlan:1:127.0.0.1:1:99999999")).toThrow(
      "pvkit: up: --uplink br0: VNI 99999999 does not fit 24 bits (0..16777215)",
    );
  });
});
