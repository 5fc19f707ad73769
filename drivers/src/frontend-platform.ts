/**
 * What a frontend driver (blkfront, netfront) needs of its guest kernel: xenstore, pages to grant to
 * the backend and event channels. The guest kernel builds one (kernel/frontends.ts); driver tests
 * build their own.
 */
import type { PoolPlatform } from "./blk/front-pool.ts";
import type { DriverStore } from "./blk/protocol.ts";

export interface FrontendPlatform extends PoolPlatform {
  store: DriverStore;
  allocUnbound(remoteDom: number, onEvent: () => void): number;
  notify(port: number): void;
  closePort(port: number): void;
  log(line: string): void;
}
