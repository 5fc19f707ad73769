/**
 * A hostile guest against dom0's xenstored, over its own xenstore ring — the bytes any guest kernel
 * can put there. The domains are laid out as the toolstack lays them out (libxl's permissions), with
 * a neighbour holding a secret. Each attack once worked or could have: the store's rules, its
 * quotas and its memory hold against it, and the neighbour and dom0 are untouched.
 */
import { describe, expect, it } from "vitest";
import * as X from "@pvkit/guest-kernel/dom0/xenstored/abi";
import { Xenstored } from "@pvkit/guest-kernel/dom0/xenstored/index";
import { guestOnRing } from "../../guest-kernel/test/helpers/guest-on-ring.ts";

const MEMORY_QUOTA = 64 * 1024;

/** A store with domains 5 (the attacker) and 6 (its neighbour), each on a real ring page. */
function stage() {
  const logs: string[] = [];
  const xs = new Xenstored({ quota: { memoryPerDomain: MEMORY_QUOTA }, log: (l) => logs.push(l) });
  const attacker = guestOnRing(xs, 5);
  guestOnRing(xs, 6);
  xs.write("/local/domain/6/data/secret", "neighbour's secret");
  return { xs, attacker, logs };
}

const text = (s: string) => new TextEncoder().encode(s + "\0");
const errorOf = (p: Promise<unknown>) =>
  p.then(
    () => "OK",
    (e: { code?: string }) => e.code ?? String(e),
  );

describe("a hostile guest on its xenstore ring", { timeout: 60_000 }, () => {
  it("cannot read its neighbour's nodes nor rewrite what the toolstack wrote for it", async () => {
    const { xs, attacker } = stage();
    expect(await errorOf(attacker.read("/local/domain/6/data/secret"))).toBe("EACCES");
    expect(await errorOf(attacker.write("name", "dom0"))).toBe("EACCES");
    expect(await errorOf(attacker.write("console/ring-ref", "1"))).toBe("EACCES");
    expect(await errorOf(attacker.write("/local/domain/6/data/x", "1"))).toBe("EACCES");
    expect(await errorOf(attacker.request(X.XS_SET_PERMS, text("/local/domain/5/data\0n6")))).toBe("EPERM");
    expect(xs.read("/local/domain/5/name")).toBe("g5");
    expect(await attacker.read("name")).toBe("g5"); // what it may do still works
  });

  it("cannot pass its memory quota by spreading writes over parallel transactions", async () => {
    const { xs, attacker } = stage();
    const value = "x".repeat(1800);
    const txs: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await attacker.request(X.XS_TRANSACTION_START, text(""));
      txs.push(Number(new TextDecoder().decode(r.payload).replace("\0", "")));
    }
    let accepted = 0;
    for (let round = 0; round < 20; round++)
      for (const [i, tx] of txs.entries())
        if ((await errorOf(attacker.write(`data/t${i}-${round}`, value, tx))) === "OK") accepted++;
    for (const tx of txs) await errorOf(attacker.request(X.XS_TRANSACTION_END, text("T"), tx));
    // 8 × 20 writes of 1.8 KiB were tried; the open copies count, so only the quota's worth got in.
    expect(accepted).toBeLessThan(MEMORY_QUOTA / 1800);
    expect(xs.memory.of(5)).toBeLessThan(MEMORY_QUOTA);
  });

  it("a write it makes fail inside a transaction leaves no half node behind", async () => {
    const { xs, attacker } = stage();
    const r = await attacker.request(X.XS_TRANSACTION_START, text(""));
    const tx = Number(new TextDecoder().decode(r.payload).replace("\0", ""));
    expect(await errorOf(attacker.write("data/a/b", "x".repeat(3000), tx))).toBe("ENOSPC");
    expect(await errorOf(attacker.request(X.XS_TRANSACTION_END, text("T"), tx))).toBe("ENOMEM");
    expect(xs.tryRead("/local/domain/5/data/a")).toBeUndefined();
    expect(xs.directory("/local/domain/5/data")).toEqual([]);
  });

  it("garbage on its ring gets errors, and dom0 and the neighbour are served throughout", async () => {
    const { xs, attacker, logs } = stage();
    for (const type of [99, X.XS_WATCH_EVENT, X.XS_ERROR, X.XS_INTRODUCE, X.XS_CONTROL])
      expect(await errorOf(attacker.request(type, text("/local/domain/6")))).toMatch(/^E/);
    expect(await errorOf(attacker.request(X.XS_READ, new Uint8Array([0x2f, 0x61])))).toBe("EINVAL");
    expect(logs.filter((l) => l.includes("BUG"))).toEqual([]);
    expect(xs.read("/local/domain/6/data/secret")).toBe("neighbour's secret");
  });
});
