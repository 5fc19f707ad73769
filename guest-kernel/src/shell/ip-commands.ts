/**
 * The shell's IPv4 commands, over the stack in net/stack/ (started on first use with the vif's
 * `ip=`, and shared with any program that started it first):
 *   ping ADDR [-c N]   echo requests, one line per reply as ping prints them, then the summary
 *   arp                the neighbour cache: address, MAC, seconds until it must be confirmed
 *   ip                 our address and what the stack counted, dropped packets by reason
 */
import type { KernelHandle } from "../kernel/program.ts";
import { startIp, type IpStack } from "../net/stack/stack.ts";
import type { Command } from "./commands.ts";

/** The stack, or undefined after printing why there is none ("ping: eth0: no IPv4 address ..."). */
async function stack(cmd: string, k: KernelHandle): Promise<IpStack | undefined> {
  try {
    return await startIp(k);
  } catch (e) {
    k.print(`${cmd}: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
}

function parsePingArgs(args: string[]): { address: string; count: number } | undefined {
  let address: string | undefined;
  let count = 4;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "-c") {
      const n = Number(args[++i]);
      if (!Number.isInteger(n) || n < 1 || n > 100000) return undefined;
      count = n;
    } else if (address === undefined && !args[i]!.startsWith("-")) address = args[i];
    else return undefined;
  }
  return address === undefined ? undefined : { address, count };
}

const ms = (x: number) => x.toFixed(3);

export function ipCommands(): Command[] {
  return [
    {
      name: "ping",
      usage: "ping ADDR [-c N]",
      help: "send ICMP echo requests (4 unless -c)",
      async run(args, k) {
        const a = parsePingArgs(args);
        if (!a) return void k.print(`usage: ${this.usage}`);
        const s = await stack("ping", k);
        if (!s) return;
        k.print(`PING ${a.address} 56 data bytes`);
        try {
          const r = await s.ping(a.address, {
            count: a.count,
            onReply: (seq, rtt, ttl) =>
              k.print(
                rtt === undefined
                  ? `no answer from ${a.address}: icmp_seq=${seq}`
                  : `64 bytes from ${a.address}: icmp_seq=${seq} ttl=${ttl} time=${ms(rtt)} ms`,
              ),
          });
          const got = r.rttMs.filter((x): x is number => x !== undefined);
          const loss = Math.round((100 * (r.sent - r.received)) / r.sent);
          k.print(`--- ${a.address} ping statistics ---`);
          k.print(`${r.sent} packets transmitted, ${r.received} received, ${loss}% packet loss`);
          if (got.length > 0) {
            const avg = got.reduce((x, y) => x + y, 0) / got.length;
            k.print(`rtt min/avg/max = ${ms(Math.min(...got))}/${ms(avg)}/${ms(Math.max(...got))} ms`);
          }
        } catch (e) {
          k.print(`ping: ${e instanceof Error ? e.message : String(e)}`);
        }
      },
    },
    {
      name: "arp",
      usage: "arp",
      help: "the ARP cache",
      async run(args, k) {
        if (args.length > 0) return void k.print(`usage: ${this.usage}`);
        const s = await stack("arp", k);
        if (!s) return;
        const rows = s.arp();
        if (rows.length === 0) return void k.print("arp: no entries");
        k.print("Address          HWaddress          Iface  Expires");
        for (const e of rows)
          k.print(`${e.ip.padEnd(16)} ${e.mac}  ${s.device.padEnd(6)} ${Math.ceil(e.expiresInMs / 1000)}s`);
      },
    },
    {
      name: "ip",
      usage: "ip",
      help: "IPv4 address and the stack's counters",
      async run(args, k) {
        if (args.length > 0) return void k.print(`usage: ${this.usage}`);
        const s = await stack("ip", k);
        if (!s) return;
        const st = s.stats();
        k.print(`${s.device}: inet ${s.address}/${s.prefixLength}`);
        k.print("counters:");
        for (const [name, n] of Object.entries(st.counters)) k.print(`  ${name.padEnd(28)} ${n}`);
        k.print("dropped:");
        const drops = Object.entries(st.dropped);
        if (drops.length === 0) k.print("  none");
        for (const [why, n] of drops) k.print(`  ${why.padEnd(28)} ${n}`);
      },
    },
  ];
}
