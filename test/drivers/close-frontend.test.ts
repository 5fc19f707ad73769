/**
 * closeFrontend when the toolstack asked for the close (`pvkit block-detach` writes the backend's
 * Closing first, as libxl does): the backend's Closing is already there when the frontend looks,
 * so the frontend ends its grants while the backend may still map the pages. Those grants must be
 * ended once the backend is Closed (it unmaps before that), not left granted for good. The
 * backend here is played by hand: it unmaps only after the frontend's Closed, the latest a real
 * one may.
 */
import { XenbusStateClosed, XenbusStateClosing } from "@pvkit/abi/layout";
import type { DriverStore } from "@pvkit/drivers/blk/protocol";
import { type FrontendPlatform, closeFrontend } from "@pvkit/drivers/frontend-platform";
import { describe, expect, it } from "vitest";

/** A xenstore of plain values whose watches fire on every write at or under their path. */
function memoryStore(): DriverStore & { nodes: Map<string, string> } {
  const nodes = new Map<string, string>();
  const watches = new Set<{ path: string; cb: () => void }>();
  return {
    nodes,
    read: async (path) => nodes.get(path),
    async write(path, value) {
      nodes.set(path, value);
      for (const w of [...watches])
        if (path === w.path || path.startsWith(`${w.path}/`)) queueMicrotask(w.cb);
    },
    async watch(path, cb) {
      const w = { path, cb };
      watches.add(w);
      queueMicrotask(cb);
      return () => void watches.delete(w);
    },
  };
}

const FE = "/local/domain/5/device/vbd/51728";
const BE = "/local/domain/0/backend/vbd/5/51728";

function frontend(store: DriverStore, mapped: Set<number>) {
  const freed: number[] = [];
  const log: string[] = [];
  const p: FrontendPlatform = {
    store,
    allocPage: () => ({ pfn: 0, view: new DataView(new ArrayBuffer(4096)) }),
    freePage: (pfn) => void freed.push(pfn),
    grant: () => 0,
    endGrant: (ref) => !mapped.has(ref),
    allocUnbound: () => 1,
    notify: () => {},
    closePort: () => {},
    log: (line) => void log.push(line),
  };
  return { p, freed, log };
}

describe("closeFrontend after the toolstack's Closing", () => {
  it("ends the grants the backend still mapped once the backend is Closed", async () => {
    const store = memoryStore();
    await store.write(`${BE}/state`, String(XenbusStateClosing)); // the toolstack's request
    const mapped = new Set([100, 101, 200]); // two ring pages and a pool page, still mapped
    // The backend: on the frontend's Closed it unmaps everything, then says Closed.
    await store.watch(`${FE}/state`, () => {
      if (store.nodes.get(`${FE}/state`) !== String(XenbusStateClosed)) return;
      setTimeout(() => {
        mapped.clear();
        void store.write(`${BE}/state`, String(XenbusStateClosed));
      }, 5);
    });
    const { p, freed, log } = frontend(store, mapped);
    const pool = { destroy: () => [{ pfn: 20, ref: 200 }] };
    const pages = [
      { pfn: 10, ref: 100 },
      { pfn: 11, ref: 101 },
      { pfn: 12, ref: 102 },
    ];
    await closeFrontend(p, FE, BE, { ports: [1], pages, pool }, 30_000);
    expect(freed.sort((a, b) => a - b)).toEqual([10, 11, 12, 20]);
    expect(log).toEqual([]);
    expect(store.nodes.get(`${FE}/state`)).toBe(String(XenbusStateClosed));
  });

  it("leaves granted, and says so, what a backend that never closes still maps", async () => {
    const store = memoryStore();
    await store.write(`${BE}/state`, String(XenbusStateClosing));
    const { p, freed, log } = frontend(store, new Set([100]));
    await closeFrontend(
      p,
      FE,
      BE,
      { ports: [], pages: [{ pfn: 10, ref: 100 }], pool: { destroy: () => [] } },
      50,
    );
    expect(freed).toEqual([]);
    expect(log).toEqual([`${FE}: 1 page(s) still mapped by the backend, left granted`]);
  });
});
