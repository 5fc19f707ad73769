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
  /** The grant pool's pages (ended and freed by the pool). */
  pool: { destroy(): number };
}

/**
 * The frontend's side of closing (the state diagrams' last steps): Closing, wait (bounded) for the
 * backend to reach Closing or Closed — it has unmapped our pages by then — Closed, then close the
 * channels, end the grants and free the pages. A page the backend still maps stays granted and is
 * never reused (pvkit's rule: access handed over is access kept), and the log says how many.
 */
export async function closeFrontend(
  p: FrontendPlatform,
  dir: string,
  backend: string,
  held: FrontendHoldings,
  timeoutMs: number,
): Promise<void> {
  await p.store.write(`${dir}/state`, String(XenbusStateClosing));
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
  await p.store.write(`${dir}/state`, String(XenbusStateClosed));
  for (const port of held.ports) p.closePort(port);
  let kept = held.pool.destroy();
  for (const { pfn, ref } of held.pages) {
    if (p.endGrant(ref)) p.freePage(pfn);
    else kept++;
  }
  if (kept > 0) p.log(`${dir}: ${kept} page(s) still mapped by the backend, left granted`);
}
