/**
 * Waiting for the other end of a split driver to reach a XenbusState: watch its `state` node and
 * resolve when it satisfies `ok`. The other end going to Closing instead (it gave up on us) rejects,
 * as does a generous hang guard — a backend that never answers must not hold a boot forever.
 */
import { XenbusStateClosing } from "@pvkit/abi/layout";
import type { DriverStore } from "./blk/protocol.ts";

const readState = (v: string | undefined): number | undefined =>
  v !== undefined && /^\d{1,3}$/.test(v.trim()) ? Number(v.trim()) : undefined;

export async function waitForState(
  store: DriverStore,
  dir: string,
  ok: (state: number) => boolean,
  what: string,
  timeoutMs: number,
): Promise<void> {
  const path = `${dir}/state`;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let watching: Promise<() => void> | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${dir} did not reach ${what} in ${timeoutMs / 1000} s`)),
        timeoutMs,
      );
      watching = store.watch(path, () => {
        void store.read(path).then((v) => {
          const st = readState(v);
          if (st !== undefined && ok(st)) resolve();
          else if (st === XenbusStateClosing && what !== "Closing")
            reject(new Error(`${dir} closed the device`));
        }, reject);
      });
      watching.catch(reject);
    });
  } finally {
    clearTimeout(timer);
    void watching?.then((unwatch) => unwatch()).catch(() => undefined);
  }
}
