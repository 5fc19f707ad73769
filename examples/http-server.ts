/**
 * A web server guest: the guest kernel's TCP/IP stack and its HTTP/1.1 server (guest-kernel/src/
 * net/http/) on port 80 of the address its vif was given (`ip=` in examples/configs/
 * http-server.cfg). Everything here runs inside the guest, in its locked-down realm.
 *
 *   GET /        an HTML page: the guest's address, uptime, and the requests served so far
 *   GET /stats   the stack's counters as JSON: IP, TCP and HTTP, and the open TCP connections
 *
 * Connections are kept alive (HTTP/1.1's default), so a browser or `curl url url` asks again on
 * the same connection; `port=N` in the cfg's `extra` serves another port. docs/network.md, "A web
 * server guest", says how to reach it from the host. It serves until the domain is shut down.
 */
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";
import { html, json, serveHttp, text, type HttpRequest } from "@pvkit/guest-kernel/net/http/index";

const escape = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

function uptime(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 3600)}h ${Math.floor(s / 60) % 60}m ${s % 60}s`;
}

export default async function main(k: KernelHandle): Promise<void> {
  const port = Number(/(?:^|\s)port=(\d+)/.exec(k.cmdline)?.[1] ?? 80);
  const ip = await k.net.ip();
  const server = await k.net.listen(port);
  const name = await k.xenstore.read("name");

  const page = (req: HttpRequest) => {
    const s = service.stats();
    return html(`<!doctype html>
<html>
<head><meta charset="utf-8"><title>${escape(name)}</title></head>
<body>
<h1>Hello from ${escape(name)}</h1>
<p>This page comes from pvkit domain ${k.domid} (${escape(name)}), served by its guest kernel's own
TCP/IP stack at <b>${ip.address}:${port}</b>.</p>
<ul>
<li>uptime: <span id="uptime">${uptime(k.time.uptimeMs())}</span></li>
<li>requests served: ${s.requests}, on ${s.connections} connection(s)</li>
<li>you are ${escape(req.remoteAddress)}:${req.remotePort}</li>
</ul>
<p>The stack's counters: <a href="/stats">/stats</a></p>
</body>
</html>
`);
  };

  const stats = () => {
    const { counters, dropped } = ip.stats();
    return json({
      domain: name,
      address: `${ip.address}/${ip.prefixLength}`,
      uptimeMs: Math.round(k.time.uptimeMs()),
      http: service.stats(),
      tcp: ip.tcp.connections(),
      counters,
      dropped,
    });
  };

  const service = serveHttp(
    server,
    (req) => {
      if (req.method !== "GET" && req.method !== "HEAD")
        return { ...text("only GET and HEAD here\n", 405), headers: { allow: "GET, HEAD" } };
      if (req.path === "/") return page(req);
      if (req.path === "/stats") return stats();
      return text(`${req.path}: not found\n`, 404);
    },
    { time: k.time, serverName: `pvkit-guest/${k.sys.version}` },
  );
  k.print(`http-server: serving http://${ip.address}:${port}/ and /stats`);
  await service.done;
}
