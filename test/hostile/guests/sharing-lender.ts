/**
 * The honest side of the sharing attack: lends a page (read-write) and a port to its friend, the way
 * the vchan example publishes them (readable by the friend only), and a read-only page to the thief.
 * Once told `data/check`, it reports what its pages hold: the thief must have changed nothing.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import { waitForNode } from "@pvkit/guest-kernel/lib/vchan";

const SECRET = "lender's secret for its friend only";
const PUBLIC = "read-only text for the thief";

export default async function main(k: KernelHandle): Promise<void> {
  const [friend, thief] = (await waitForNode(k, "data/peers")).split(" ").map(Number) as [number, number];
  const rw = k.grants.share(friend);
  new Uint8Array(rw.view.buffer, rw.view.byteOffset).set(new TextEncoder().encode(SECRET));
  const port = k.events.allocUnbound(friend, () => undefined);
  for (const [key, value] of [
    ["ring-ref", rw.ref],
    ["event-channel", port],
  ] as const) {
    await k.xenstore.write(`data/vchan/${key}`, String(value));
    await k.xenstore.setPerms(`data/vchan/${key}`, [`n${k.domid}`, `r${friend}`]);
  }
  const ro = k.grants.share(thief, { readonly: true });
  new Uint8Array(ro.view.buffer, ro.view.byteOffset).set(new TextEncoder().encode(PUBLIC));
  k.print(JSON.stringify({ phase: "published", ref: rw.ref, port, roRef: ro.ref }));
  await waitForNode(k, "data/check");
  const text = (v: DataView) =>
    new TextDecoder().decode(new Uint8Array(v.buffer, v.byteOffset, 64)).replace(/\0+$/, "");
  k.print(JSON.stringify({ phase: "checked", rw: text(rw.view), ro: text(ro.view) }));
  await new Promise<never>(() => {}); // stay up: the test checks that nobody crashed
}
