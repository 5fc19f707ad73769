/**
 * `pvkit network-attach` / `network-detach` against a guest that does not play along. A guest owns
 * each vif's frontend directory (not device/ itself, where it can make nothing): it can give its
 * frontends any MAC, point their `backend` node anywhere, and never answer a detach. None of that
 * may steer the toolstack: the new vif's id comes from what dom0 serves (stepping over a leftover
 * frontend directory), a vif named by MAC is found by the MAC dom0 gave it, `network-list` shows
 * each vif's own backend and MAC, and a guest that never lets go costs a bounded wait with the vif
 * served as before. The guest writes through its own xenstore ring to a real xenstored, against the
 * toolstack's own hotplug code.
 */
import { describe, expect, it } from "vitest";
import { attachVif, detachVif } from "@pvkit/guest-kernel/dom0/toolstack/vif-hotplug";
import { NetControl } from "@pvkit/guest-kernel/dom0/netback/net-control";
import type { NetbackService } from "@pvkit/guest-kernel/dom0/netback/service";
import type { NetworkDeviceRow } from "@pvkit/abi/toolstack-protocol";
import { Xenstored } from "@pvkit/guest-kernel/dom0/xenstored/index";
import { guestOnRing } from "../../guest-kernel/test/helpers/guest-on-ring.ts";

const DOMID = 7;
const FE = `/local/domain/${DOMID}/device/vif`;
const BE = `/local/domain/0/backend/vif/${DOMID}`;

/** A store with DOMID's home as create writes it, and the guest's client on a ring of its own. */
function stage() {
  const xs = new Xenstored();
  return { xs, guest: guestOnRing(xs, DOMID) };
}

const errorOf = (p: Promise<unknown>) =>
  p.then(
    () => "OK",
    (e: { code?: string }) => e.code ?? String(e),
  );

/** Attaches `spec` with no guest to connect it; returns its device id. */
async function attach(xs: Xenstored, spec: string): Promise<number> {
  const r = attachVif(xs, DOMID, spec, 10);
  expect(await r.connected).toBe(false);
  return r.vif.devid;
}

describe("network-attach/-detach and a hostile guest", () => {
  it("a guest can make no directory under device/; a new vif's id steps over a leftover one", async () => {
    const { xs, guest } = stage();
    expect(await errorOf(guest.write(`${FE}/0/backend`, `/local/domain/0/backend/vif/8/0`))).toBe("EACCES");
    expect(await errorOf(guest.mkdir(`${FE}/5`))).toBe("EACCES");
    // A frontend directory whose backend is gone (only dom0 can make one) is not reused.
    xs.write(`${FE}/0/state`, "6");
    expect(await attach(xs, "bridge=pvbr0")).toBe(1);
    expect(await attach(xs, "bridge=pvbr0")).toBe(2);
    // The guest owns each new frontend directory, and writes there as it likes.
    expect(await errorOf(guest.write(`${FE}/1/mac`, "whatever"))).toBe("OK");
  });

  it("detach by MAC finds the vif dom0 gave that MAC, whatever the guest's frontends say", async () => {
    const { xs, guest } = stage();
    expect(await attach(xs, "mac=00:16:3e:00:00:0a")).toBe(0);
    expect(await attach(xs, "mac=00:16:3e:00:00:0b")).toBe(1);
    // The guest claims vif 1's MAC for vif 0 in the frontend it owns.
    await guest.write(`${FE}/0/mac`, "00:16:3e:00:00:0b");
    expect(await detachVif(xs, DOMID, "00:16:3e:00:00:0b", true)).toBe(1);
    expect(xs.tryRead(`${BE}/1`)).toBeUndefined();
    expect(xs.tryRead(`${BE}/0/mac`)).toBe("00:16:3e:00:00:0a");
    // A MAC dom0 already serves for this domain is refused, as a second port for it would be.
    expect(() => attachVif(xs, DOMID, "mac=00:16:3e:00:00:0a", 10)).toThrow(
      "00:16:3e:00:00:0a is already the MAC of its vif 0",
    );
  });

  it("network-list shows a vif's own backend and MAC, whatever the guest writes in its frontend", async () => {
    const { xs, guest } = stage();
    expect(await attach(xs, "mac=00:16:3e:00:00:0c, bridge=mine")).toBe(0);
    xs.write("/local/domain/0/backend/vif/8/0/bridge", "someone-elses");
    await guest.write(`${FE}/0/backend`, "/local/domain/0/backend/vif/8/0");
    // A MAC made to attack the terminal network-list prints on.
    await guest.write(`${FE}/0/mac`, "\x1b]0;owned\x07");
    const netback = { list: () => [] } as unknown as NetbackService;
    const rows = (await new NetControl(netback, xs, () => DOMID).handle(
      { id: 1, op: "network-list", domain: String(DOMID) },
      { once: () => undefined },
    )) as NetworkDeviceRow[];
    expect(rows.map((r) => [r.backendPath, r.bridge, r.mac])).toEqual([
      [`${BE}/0`, "mine", "00:16:3e:00:00:0c"],
    ]);
  });

  it("a guest that never lets go: a bounded wait, one line, and the vif served as before", async () => {
    const { xs } = stage();
    await attach(xs, "bridge=pvbr0");
    xs.write(`${BE}/0/state`, "4"); // Connected, as netback would have it
    await expect(detachVif(xs, DOMID, "0", false, 200)).rejects.toThrow(
      "the guest did not let go of vif 0 within 0.2 s (-f removes it anyway)",
    );
    expect([xs.tryRead(`${BE}/0/state`), xs.tryRead(`${BE}/0/online`)]).toEqual(["4", "1"]);
  });
});
