/**
 * What a frontend driver (blkfront, netfront) needs of its guest kernel: xenstore, pages to grant to
 * the backend and event channels. The guest kernel builds one (kernel/frontends.ts); driver tests
 * build their own. closeFrontend() is the last part of every frontend's handshake.
 */
import { XenbusStateClosed, XenbusStateClosing } from "@pvkit/abi/layout";
import type { PoolPlatform } from "./blk/front-pool.ts";
import type { DriverStore } from "./blk/protocol.ts";
import { waitForState } from "./xenbus-wait.ts";

export interface FrontendPlatform extends PoolPlatform {
  store: DriverStore;
  allocUnbound(remoteDom: number, onEvent: () => void): number;
  notify(port: number): void;
  closePort(port: number): void;
  log(line: string): void;
}

/** What a connected frontend holds that closing must give back. */
export interface FrontendHoldings {
  ports: number[];
  /** Its pages granted to the backend by the driver itself (rings), with their refs. */
  pages: { pfn: number; ref: number }[];
  /** The grant pool: ends and frees its pages, returning those the backend still maps. */
  pool: { destroy(): { pfn: number; ref: number }[] };
}

/**
 * The frontend's side of closing (the state diagrams' last steps): Closing, wait (bounded) for the
 * backend to reach Closing or Closed, Closed, then close the channels, end the grants and free the
 * pages. The backend unmaps our pages when it sees our Closing, so by its Closing it usually has —
 * but not when the toolstack wrote that Closing itself, asking us to let go (`pvkit block-detach`,
 * as libxl does): then a page may still be mapped when we end its grant. Such a page is tried
 * again once the backend is Closed (it follows our Closed, after unmapping) or gone, as Linux's
 * gnttab_end_foreign_access retries later; one still mapped after that stays granted and is never
 * reused (pvkit's rule: access handed over is access kept), and the log says how many.
 */
export async function closeFrontend(
  p: FrontendPlatform,
  dir: string,
  backend: string,
  held: FrontendHoldings,
  timeoutMs: number,
): Promise<void> {
  // A directory the toolstack already removed (a forced detach) takes no state: the grants and
  // ports are given back all the same.
  const say = (state: number) => p.store.write(`${dir}/state`, String(state)).catch(() => undefined);
  await say(XenbusStateClosing);
  try {
    await waitForState(
      p.store,
      backend,
      (st) => st === XenbusStateClosing || st === XenbusStateClosed,
      "Closing",
      timeoutMs,
    );
  } catch (e) {
    p.log(`${dir}: ${e instanceof Error ? e.message : String(e)}`);
  }
  await say(XenbusStateClosed);
  for (const port of held.ports) p.closePort(port);
  let kept = endGrants(p, [...held.pool.destroy(), ...held.pages]);
  if (kept.length > 0) {
    await backendClosedOrGone(p, backend, timeoutMs);
    kept = endGrants(p, kept);
  }
  if (kept.length > 0) p.log(`${dir}: ${kept.length} page(s) still mapped by the backend, left granted`);
}

/** Ends each grant and frees its page; returns the pages whose grant is still mapped. */
function endGrants(
  p: FrontendPlatform,
  pages: { pfn: number; ref: number }[],
): { pfn: number; ref: number }[] {
  return pages.filter(({ pfn, ref }) => {
    if (!p.endGrant(ref)) return true;
    p.freePage(pfn);
    return false;
  });
}

/** Waits (bounded) until the backend's state is Closed or its directory is gone; never throws. */
async function backendClosedOrGone(p: FrontendPlatform, backend: string, timeoutMs: number): Promise<void> {
  const path = `${backend}/state`;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let watching: Promise<() => void> | undefined;
  await new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
    watching = p.store.watch(path, () => {
      void p.store.read(path).then(
        (v) => (v === undefined || Number(v) === XenbusStateClosed) && resolve(),
        () => resolve(),
      );
    });
    watching.catch(() => resolve());
  });
  clearTimeout(timer);
  void watching?.then((unwatch) => unwatch()).catch(() => undefined);
}
