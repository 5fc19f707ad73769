/**
 * A guest program against what its neighbours share through the SDK (k.events, k.grants,
 * k.xenstore): a lender publishes a page and a port for its friend, the way examples/pingpong does,
 * and a thief that knows every number tries to read, map, copy, bind and overwrite them, and to turn
 * the API against its own kernel's ports. Every attempt fails with a Xen status or error in words;
 * the lender's pages are unchanged; the read-only page it lent the thief reads but never writes.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO, e2eStage } from "../e2e/stage.ts";

const stage = e2eStage("pvkit-hostile-sharing-");

const control = <T>(req: Record<string, unknown>) => stage.control<T>(req);

async function create(name: string, kernel: string): Promise<number> {
  const file = join(stage.dir, `${name}.cfg`);
  const config = `name = "${name}"\nkernel = "${kernel}"\nmemory = 8\n`;
  return (await control<{ domid: number }>({ op: "create", config, file })).domid;
}

const phase = <T = Record<string, unknown>>(name: string, p: string) => stage.phase<T>(name, p);

describe("a thief among sharing guests", { timeout: 120_000 }, () => {
  it("reads, maps, copies, binds and overwrites nothing that was not lent to it", async () => {
    const friend = await create("friend", join(REPO, "test/guests/idle.ts"));
    const lender = await create("lender", join(REPO, "test/hostile/guests/sharing-lender.ts"));
    const thief = await create("thief", join(REPO, "test/hostile/guests/sharing-thief.ts"));
    await control({
      op: "xenstore-write",
      path: `/local/domain/${lender}/data/peers`,
      value: `${friend} ${thief}`,
    });
    const pub = await phase("lender", "published");
    const targets = { lender, friend, ref: pub.ref, port: pub.port, roRef: pub.roRef };
    await control({
      op: "xenstore-write",
      path: `/local/domain/${thief}/data/targets`,
      value: JSON.stringify(targets),
    });
    const r = await phase("thief", "attacked");

    // xenstore: the friend's nodes are neither readable nor writable, and their rights stay.
    expect(r.readRef).toMatch(/EACCES/);
    expect(r.chmodRef).toMatch(/EACCES/);
    expect(r.overwriteRef).toMatch(/EACCES/);
    // The friend's page and port: granted to another domain, so no map, no copy, no bind.
    expect(r.mapFriendsPage).toMatch(/^GrantError: map grant \d+ of domain \d+: GNTST_/);
    expect(r.copyFriendsPage).toMatch(/^GrantError: grant copy .*GNTST_/);
    expect(r.writeFriendsPage).toMatch(/^GrantError: grant copy .*GNTST_/);
    expect(r.bindFriendsPort).toMatch(/EINVAL|EPERM|ESRCH/);
    // The read-only page: readable by map and copy, never writable.
    expect(r.mapReadOnlyForWrite).toMatch(/GNTST_permission_denied/);
    expect(r.copyToReadOnly).toMatch(/GNTST_permission_denied/);
    expect(r.mapReadOnly).toBe("OK read-only text for the thief");
    expect(r.copyReadOnly).toBe("OK read-only text for the thief");
    expect(r.copyAcrossPage).toMatch(/RangeError: .*crosses the end/);
    // Other domains' rings (granted to dom0) and dom0's own table.
    expect(r.friendsConsoleRing).toMatch(/GNTST_/);
    expect(r.friendsStoreRing).toMatch(/GNTST_/);
    expect(r.dom0Grant).toMatch(/GNTST_/);
    // Its own kernel's ports are not the program's to kick or close.
    expect(r.notifyKernelConsole).toMatch(/not opened by this program/);
    expect(r.closeKernelStore).toMatch(/not opened by this program/);
    expect(r.bindOwnKernelPort).toMatch(/EINVAL/); // bound already: not a port to connect to

    await control({ op: "xenstore-write", path: `/local/domain/${lender}/data/check`, value: "1" });
    expect(await phase("lender", "checked")).toMatchObject({
      rw: "lender's secret for its friend only",
      ro: "read-only text for the thief",
    });
    // Everyone is still up: no attempt crashed a domain, dom0 or the host.
    const list = await control<{ name: string; state: string }[]>({ op: "list" });
    for (const name of ["friend", "lender", "thief"]) {
      expect(list.find((d) => d.name === name)?.state, name).toMatch(/^[-rb]+$/);
    }
  });
});
