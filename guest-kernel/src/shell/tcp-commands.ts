/**
 * The shell's TCP commands, over the stack in net/stack/ (k.net.ip(): the one stack eth0 has,
 * shared with programs and the other network commands):
 *
 *   netstat [-tan]             every TCP connection and listener, as Linux's `netstat -tan` lays
 *                              them out: Proto Recv-Q Send-Q Local Address Foreign Address State
 *   netstat -s                 the stack's counters and drops, grouped by layer (eth, arp, ip, ...)
 *   nc -l PORT                 waits for one connection on PORT, prints "nc: connection from A:P"
 *                              and then everything the peer sends, until it closes
 *   nc ADDR PORT [TEXT...]     connects, sends TEXT and "\n" if given, closes our side (FIN), and
 *                              prints everything the peer sends until it closes
 *
 * nc takes what it sends from its arguments, not from the keyboard. Forwarding typed lines would
 * need a way to stop reading them: the console has no end-of-input key (Ctrl-D is ignored) and a
 * pending readline cannot be withdrawn, so after the connection ended nc would still be waiting
 * for a line and would swallow the next command typed at the prompt. `nc ADDR PORT TEXT` covers
 * the uses a test or a person at the console has (ask a server something, read its answer).
 *
 * Ctrl-C stops a waiting nc and also releases what it holds: the listening port is closed, a
 * connection is reset. (The shell stops waiting for any command on Ctrl-C, but it cannot end the
 * command's work: a listener left behind would keep its port.)
 *
 * Errors are one line in the stack's words: `nc: ECONNREFUSED: the peer refused the connection`.
 */
import type { KernelHandle } from "../kernel/program.ts";
import type { IpStack, StackStats, TcpConnectionInfo, TcpServer, TcpSocket } from "../net/stack/stack.ts";
import type { Command } from "./commands.ts";

const why = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** The stack, or undefined after printing why there is none ("nc: eth0: no IPv4 address ..."). */
async function stack(cmd: string, k: KernelHandle): Promise<IpStack | undefined> {
  try {
    return await k.net.ip();
  } catch (e) {
    k.print(`${cmd}: ${why(e)}`);
    return undefined;
  }
}

/** A port number from the command line, or undefined when it is not 1..65535. */
function port(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d{1,5}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= 1 && n <= 65535 ? n : undefined;
}

const endpoint = (address: string, p: number) => `${address}:${p === 0 ? "*" : p}`;

/** netstat's table: a header and one line per connection, columns as Linux's netstat prints them. */
export function formatConnections(rows: TcpConnectionInfo[]): string[] {
  const line = (proto: string, rq: string, sq: string, local: string, foreign: string, state: string) =>
    `${proto.padEnd(5)} ${rq.padStart(6)} ${sq.padStart(6)} ${local.padEnd(23)} ${foreign.padEnd(23)} ${state}`.trimEnd();
  return [
    "Active Internet connections (servers and established)",
    line("Proto", "Recv-Q", "Send-Q", "Local Address", "Foreign Address", "State"),
    ...rows.map((r) =>
      line(
        "tcp",
        String(r.recvQ),
        String(r.sendQ),
        endpoint(r.localAddress, r.localPort),
        endpoint(r.remoteAddress, r.remotePort),
        r.state,
      ),
    ),
  ];
}

/** Layers in the order a frame climbs them; any other prefix follows, alphabetically. */
const LAYERS = ["eth", "arp", "ip", "icmp", "udp", "tcp"];

/**
 * netstat -s: per layer, what went through and then what was dropped and why, from the stack's
 * counters ("tcp.segments-in") and drops ("tcp.bad-checksum").
 */
export function formatStats(s: StackStats): string[] {
  const groups = new Map<string, { counted: [string, number][]; dropped: [string, number][] }>();
  const group = (name: string) => {
    const layer = name.includes(".") ? name.slice(0, name.indexOf(".")) : "other";
    let g = groups.get(layer);
    if (!g) groups.set(layer, (g = { counted: [], dropped: [] }));
    return [g, name.slice(layer.length + 1) || name] as const;
  };
  for (const [name, n] of Object.entries(s.counters)) {
    const [g, what] = group(name);
    g.counted.push([what, n]);
  }
  for (const [name, n] of Object.entries(s.dropped)) {
    const [g, what] = group(name);
    g.dropped.push([what, n]);
  }
  const rank = (l: string) => (LAYERS.includes(l) ? LAYERS.indexOf(l) : LAYERS.length);
  const order = [...groups.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const out: string[] = [];
  for (const layer of order) {
    const g = groups.get(layer)!;
    out.push(`${layer}:`);
    for (const [what, n] of g.counted) out.push(`    ${what.padEnd(30)} ${n}`);
    for (const [what, n] of g.dropped) out.push(`    ${`dropped, ${what}`.padEnd(30)} ${n}`);
  }
  if (out.length === 0) out.push("no packets yet");
  return out;
}

/**
 * Prints what `s` receives until the peer's FIN (text decoded as UTF-8 across chunk boundaries).
 * Returns false after a reset, printed as one line unless Ctrl-C caused it.
 */
async function printUntilClosed(k: KernelHandle, s: TcpSocket, interrupted: () => boolean): Promise<boolean> {
  const text = new TextDecoder();
  try {
    for await (const chunk of s) k.console.write(text.decode(chunk, { stream: true }));
    const rest = text.decode();
    if (rest) k.console.write(rest);
    return true;
  } catch (e) {
    if (!interrupted()) k.print(`nc: ${why(e)}`);
    return false;
  }
}

/** Runs `work` with Ctrl-C calling `stop` (and `work`'s `interrupted()` then true). */
async function untilInterrupt(
  k: KernelHandle,
  stop: () => void,
  work: (interrupted: () => boolean) => Promise<void>,
): Promise<void> {
  let interrupted = false;
  const remove = k.console.onInterrupt(() => {
    interrupted = true;
    stop();
  });
  try {
    await work(() => interrupted);
  } finally {
    remove();
  }
}

/** nc -l: one connection on `p`, printed until the peer closes; then we close too. */
async function listenOnce(k: KernelHandle, ip: IpStack, p: number): Promise<void> {
  let server: TcpServer;
  try {
    server = ip.tcp.listen(p, { backlog: 1 });
  } catch (e) {
    return void k.print(`nc: ${why(e)}`);
  }
  let sock: TcpSocket | null = null;
  await untilInterrupt(
    k,
    () => (sock ? sock.destroy() : server.close()),
    async (interrupted) => {
      const s = (sock = await server.accept());
      server.close(); // one connection, as nc -l: the port is free again at once
      if (!s) return; // Ctrl-C before anyone came
      k.print(`nc: connection from ${s.remoteAddress}:${s.remotePort}`);
      if (await printUntilClosed(k, s, interrupted)) await s.end().catch(() => {});
    },
  );
}

/** nc ADDR PORT [TEXT...]: connect, send the text and FIN, print the answer until the peer's FIN. */
async function connectTo(k: KernelHandle, ip: IpStack, address: string, p: number, text: string[]) {
  let sock: TcpSocket | undefined;
  let cancel = () => {};
  await untilInterrupt(
    k,
    () => (sock ? sock.destroy() : cancel()),
    async (interrupted) => {
      let s: TcpSocket | undefined;
      try {
        const connecting = ip.tcp.connect(address, p);
        // Ctrl-C during the handshake: stop waiting, and reset the connection if it opens after all.
        const cancelled = new Promise<undefined>((resolve) => {
          cancel = () => {
            connecting.then(
              (late) => late.destroy(),
              () => {},
            );
            resolve(undefined);
          };
        });
        s = sock = await Promise.race([connecting, cancelled]);
        if (!s) return;
        if (text.length > 0) await s.write(`${text.join(" ")}\n`);
      } catch (e) {
        if (!interrupted()) k.print(`nc: ${why(e)}`);
        return;
      }
      // Our FIN goes right after the text: the peer answers knowing we said everything.
      const ended = s.end().catch(() => {});
      await printUntilClosed(k, s, interrupted);
      await ended;
    },
  );
}

export function tcpCommands(): Command[] {
  return [
    {
      name: "netstat",
      usage: "netstat [-tan] | netstat -s",
      help: "TCP connections and listeners (-s: the stack's counters and drops)",
      async run(args, k) {
        const flags = args.join("");
        const summary = flags === "-s";
        if (!summary && !args.every((a) => /^-[tanl]+$/.test(a))) return void k.print(`usage: ${this.usage}`);
        const ip = await stack("netstat", k);
        if (!ip) return;
        for (const line of summary ? formatStats(ip.stats()) : formatConnections(ip.tcp.connections()))
          k.print(line);
      },
    },
    {
      name: "nc",
      usage: "nc -l PORT | nc ADDR PORT [TEXT...]",
      help: "TCP: wait for one connection, or connect and send TEXT; print what comes back",
      async run(args, k) {
        const listen = args[0] === "-l";
        const p = port(args[1]);
        const ok = listen ? args.length === 2 : args.length >= 2 && !args[0]!.startsWith("-");
        if (!ok || p === undefined) return void k.print(`usage: ${this.usage}`);
        const ip = await stack("nc", k);
        if (!ip) return;
        if (listen) await listenOnce(k, ip, p);
        else await connectTo(k, ip, args[0]!, p, args.slice(2));
      },
    },
  ];
}
