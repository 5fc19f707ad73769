/**
 * The xenbus handshake helpers a front or back driver uses: publish our own `state` node and wait
 * for the other end's via a watch (io/xenbus.h states). A driver must switch state only forward
 * through the handshake (Initialising -> InitWait/Initialised -> Connected -> Closing -> Closed).
 */
import type { XenStoreClient } from "./client.ts";

/** enum xenbus_state (io/xenbus.h). */
export const XenbusState = {
  Unknown: 0,
  Initialising: 1,
  InitWait: 2,
  Initialised: 3,
  Connected: 4,
  Closing: 5,
  Closed: 6,
  Reconfiguring: 7,
  Reconfigured: 8,
} as const;
export type XenbusStateValue = (typeof XenbusState)[keyof typeof XenbusState];

/** "Connected" for 4, "state9" for a value no peer should publish. */
export function xenbusStateName(state: number): string {
  const hit = Object.entries(XenbusState).find(([, v]) => v === state);
  return hit ? hit[0] : `state${state}`;
}

/** Parses a `state` node; anything that is not a known state number reads as Unknown. */
export function parseState(text: string | undefined): number {
  const n = Number(text);
  return Number.isInteger(n) && n >= 0 && n <= 8 && text !== "" ? n : XenbusState.Unknown;
}

/** Writes `<nodename>/state`. */
export async function switchState(xs: XenStoreClient, nodename: string, state: number): Promise<void> {
  await xs.write(`${nodename}/state`, String(state));
}

/** Reads `<nodename>/state` (Unknown when missing). */
export async function readState(xs: XenStoreClient, nodename: string): Promise<number> {
  return parseState(await xs.tryRead(`${nodename}/state`));
}

/**
 * Waits until the other end's `state` node satisfies `accept` and returns that state. The watch
 * is removed afterwards. Rejects after `timeoutMs` (a peer that never answers must not hang a
 * driver's init forever), naming the state it was stuck in.
 */
export function waitForState(
  xs: XenStoreClient,
  otherEnd: string,
  accept: (state: number) => boolean,
  timeoutMs = 10_000,
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let done = false;
    let token: string | undefined;
    let last: number = XenbusState.Unknown;
    const finish = (err: Error | null, state?: number) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (token) xs.unwatch(token).catch(() => undefined);
      if (err) reject(err);
      else resolve(state!);
    };
    const timer = setTimeout(
      () => finish(new Error(`${otherEnd}: timed out waiting for state (still ${xenbusStateName(last)})`)),
      timeoutMs,
    );
    const check = () => {
      readState(xs, otherEnd).then((s) => {
        last = s;
        if (accept(s)) finish(null, s);
      }, finish);
    };
    // The watch fires once on registration, so the first check needs no separate read.
    xs.watch(`${otherEnd}/state`, check).then((t) => {
      token = t;
      if (done) xs.unwatch(t).catch(() => undefined);
    }, finish);
  });
}
