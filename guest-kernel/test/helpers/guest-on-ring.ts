/**
 * Test helper: domain `domid` in a real xenstored as `pvkit create` leaves it (its home written by
 * the toolstack's own writeDomainEntries), and the guest's XenStoreClient on a ring page of its own,
 * so that what the guest writes is checked as a guest's writes are.
 */
import { writeDomainEntries } from "../../src/dom0/toolstack/store-layout.ts";
import type { DomainConfig } from "../../src/dom0/toolstack/cfg.ts";
import type { BuiltDomain } from "../../src/dom0/toolstack/host.ts";
import type { Xenstored } from "../../src/dom0/xenstored/index.ts";
import { XenStoreClient } from "../../src/xenbus/client.ts";

export function guestOnRing(xs: Xenstored, domid: number): XenStoreClient {
  const cfg = {
    name: `g${domid}`,
    uuid: `00000000-0000-0000-0000-${String(domid).padStart(12, "0")}`,
    memory: 16,
    maxmem: 16,
  };
  const built = { consoleGfn: 1n, consolePort: 2, storeGfn: 3n, storePort: 4 };
  writeDomainEntries(xs, domid, cfg as DomainConfig, built as BuiltDomain);
  const page = new DataView(new SharedArrayBuffer(4096));
  let client!: XenStoreClient;
  const ring = xs.attachDomainRing(domid, page, () => setImmediate(() => client.poll()));
  client = new XenStoreClient(page, () => setImmediate(() => ring.onEvent()));
  xs.introduceDomain(domid);
  return client;
}
