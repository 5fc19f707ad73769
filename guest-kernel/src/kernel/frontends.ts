/**
 * The kernel as its frontend drivers see it (drivers/src/frontend-platform.ts): xenstore through the
 * kernel's client, pages from its allocator granted through its grant table, event channels through
 * its Events. blkfront and netfront get the same one; their log lines carry the driver's name.
 */
import type { FrontendPlatform } from "@pvkit/drivers/frontend-platform";
import type { XenStoreClient } from "../xenbus/client.ts";
import type { Kernel } from "./kernel.ts";

export function frontendPlatform(
  k: Pick<Kernel, "mm" | "events" | "grantTable">,
  xs: XenStoreClient,
  page: (pfn: number) => DataView,
  log: (line: string) => void,
  span?: (pfn: number, pages: number) => Uint8Array | undefined,
): FrontendPlatform {
  return {
    store: {
      read: (p) => xs.tryRead(p),
      write: (p, v) => xs.write(p, v),
      watch: async (p, cb) => {
        const token = await xs.watch(p, () => cb());
        return () => void xs.unwatch(token).catch(() => undefined);
      },
    },
    allocPage: () => {
      const pfn = k.mm.alloc();
      return { pfn, view: page(pfn) };
    },
    freePage: (pfn) => k.mm.free(pfn),
    allocRun: (pages) => {
      const first = span ? k.mm.allocRange(pages) : undefined;
      if (first === undefined) return undefined;
      const pfns = Array.from({ length: pages }, (_, i) => first + i);
      const bytes = span!(first, pages);
      if (bytes) return { pfns, bytes };
      for (const pfn of pfns) k.mm.free(pfn); // not one run after all
      return undefined;
    },
    grant: (domid, pfn, ro) => k.grantTable().grantAccess(domid, pfn, ro),
    endGrant: (ref) => k.grantTable().endAccess(ref),
    allocUnbound: (dom, cb) => k.events.allocUnbound(dom, () => cb()),
    notify: (port) => k.events.notify(port),
    closePort: (port) => k.events.close(port),
    log,
  };
}
