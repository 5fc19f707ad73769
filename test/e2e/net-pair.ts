/**
 * Two test/guests/net-peer.ts guests on one bridge, each told the other's MAC and a frame count:
 * the set-up every frame-exchange test shares. Names are `<prefix>a` and `<prefix>b`; MACs are
 * 00:16:3e:00:<tag>:0a and :0b.
 */
import { join } from "node:path";
import { REPO, type e2eStage } from "./stage.ts";

export interface NetPairOptions {
  prefix: string;
  /** Two hex digits that keep this pair's MACs apart from other pairs'. */
  tag: string;
  bridge: string;
  count: number;
  mtu?: number;
  /** More of the kernel command line (`net.queues=4`). */
  extra?: string;
}

/** Creates both guests at once; resolves to their domids. */
export async function createNetPair(stage: ReturnType<typeof e2eStage>, o: NetPairOptions) {
  const mac = (side: "a" | "b") => `00:16:3e:00:${o.tag}:0${side}`;
  const mk = async (side: "a" | "b") => {
    const peer = mac(side === "a" ? "b" : "a");
    const file = join(stage.dir, `${o.prefix}${side}.cfg`);
    const mtu = o.mtu ? `, mtu=${o.mtu}` : "";
    const config =
      `name = "${o.prefix}${side}"\nkernel = "${join(REPO, "test/guests/net-peer.ts")}"\nmemory = 16\n` +
      `vif = ['mac=${mac(side)}, bridge=${o.bridge}${mtu}']\n` +
      `extra = "${o.extra ? `${o.extra} ` : ""}peer=${peer} count=${o.count}"\n`;
    return (await stage.control<{ domid: number }>({ op: "create", config, file })).domid;
  };
  const [a, b] = await Promise.all([mk("a"), mk("b")]);
  return { a, b };
}
