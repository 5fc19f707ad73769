/**
 * dom0's end of the host control socket: the `pvkit` CLI's requests (abi/src/toolstack-protocol.ts)
 * turned into toolstack calls. Each connection is served on its own; a bad line gets a one-line error
 * and the connection (and every other) keeps working. `console` turns the connection into the raw
 * byte stream of a guest's console.
 */
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import {
  formatDomainList,
  LineSplitter,
  type ControlRequest,
  type CreateProgress,
} from "@pvkit/abi/toolstack-protocol";
import type { Consoled } from "../consoled/consoled.ts";
import { XsdError } from "../xenstored/errors.ts";
import { failureLine } from "./hypervisor-errors.ts";
import type { Toolstack } from "./toolstack.ts";
import { blockList } from "./disks.ts";
import type { NetbackService } from "../netback/service.ts";
import { isNetworkRequest, NetControl } from "../netback/net-control.ts";

/** What `xenstore-*` requests reach: the store, as dom0. */
export interface StoreAccess {
  read(path: string): string;
  write(path: string, value: string): void;
  rm(path: string): void;
  directory(path: string): string[];
  tryRead(path: string): string | undefined;
}

export class ControlServer {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private net: NetControl | undefined;

  constructor(
    private readonly toolstack: Toolstack,
    private readonly consoled: Consoled,
    private readonly store: StoreAccess,
    /** dom0's network backend, for network-list, capture and uplinks (absent: none runs). */
    private readonly netback?: NetbackService,
  ) {}

  async listen(path: string): Promise<void> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    try {
      if (lstatSync(path).isSocket()) unlinkSync(path);
    } catch {
      /* no stale socket */
    }
    const server = createServer((s) => this.serve(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => resolve());
    });
    chmodSync(path, 0o600);
  }

  private serve(sock: Socket): void {
    this.sockets.add(sock);
    sock.on("close", () => this.sockets.delete(sock));
    sock.on("error", () => sock.destroy());
    const lines = new LineSplitter();
    let raw = false;
    const onData = (chunk: Buffer) => {
      if (raw) return;
      let batch: string[];
      try {
        batch = lines.push(chunk.toString("utf8"));
      } catch (e) {
        sock.end(JSON.stringify({ id: 0, error: e instanceof Error ? e.message : String(e) }) + "\n");
        return;
      }
      for (const line of batch) {
        if (raw) break;
        let req: ControlRequest;
        try {
          req = JSON.parse(line) as ControlRequest;
          if (typeof req !== "object" || req === null || typeof req.op !== "string")
            throw new Error("not a request");
        } catch {
          sock.write(
            JSON.stringify({ id: 0, error: "malformed request (expected one JSON object per line)" }) + "\n",
          );
          continue;
        }
        if (req.op === "console") {
          raw = this.attach(sock, req.id, req.domain);
          continue;
        }
        const progress = (p: CreateProgress) =>
          sock.write(JSON.stringify({ id: req.id, progress: p }) + "\n");
        this.handle(req, progress, sock).then(
          (result) => sock.write(JSON.stringify({ id: req.id, result: result ?? null }) + "\n"),
          (e: unknown) => sock.write(JSON.stringify({ id: req.id, error: failureLine(req, e) }) + "\n"),
        );
      }
    };
    sock.on("data", onData);
  }

  /** Switches `sock` to the guest's console; false (and an error line) when there is no such console. */
  private attach(sock: Socket, id: number, domain: string): boolean {
    let domid: number;
    try {
      domid = this.toolstack.resolve(domain);
    } catch (e) {
      sock.write(JSON.stringify({ id, error: e instanceof Error ? e.message : String(e) }) + "\n");
      return false;
    }
    if (!this.consoled.has(domid)) {
      // dom0, or a domain whose console is gone: an error, not an empty session.
      const why = domid === 0 ? "dom0's console is the host's terminal" : "it has no console (is it dead?)";
      sock.write(JSON.stringify({ id, error: `console ${domain}: ${why}` }) + "\n");
      return false;
    }
    // The answer first: the history the session sends on connecting follows it.
    sock.write(JSON.stringify({ id, result: { domid } }) + "\n");
    const session = this.consoled.connect(domid, {
      write: (b) => sock.write(b),
      close: () => sock.end(`\r\n[pvkit: domain ${domain} is gone]\r\n`),
    })!;
    sock.on("data", (b: Buffer) => session.input(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)));
    sock.on("close", () => session.detach());
    return true;
  }

  private async handle(
    req: ControlRequest,
    progress: (p: CreateProgress) => void,
    sock: Socket,
  ): Promise<unknown> {
    const t = this.toolstack;
    if (isNetworkRequest(req)) return this.network().handle(req, sock);
    switch (req.op) {
      case "create": {
        const inspect = req.inspectBrk === true ? "brk" : req.inspect === true;
        const made = t.create(String(req.config), String(req.file), inspect, progress);
        // A guest held for a debugger boots only once one attaches: answer now.
        if (inspect === "brk") return made;
        const boot = await t.booted(made.domid, progress);
        return boot.state === "booted"
          ? made
          : { ...made, boot: boot.state === "stopped" ? boot.reason : boot.state };
      }
      case "list":
        return t.list();
      case "list-long":
        return t.listLong();
      case "stats":
        return t.stats();
      case "info":
        return t.info();
      case "pause":
        return t.pause(String(req.domain));
      case "unpause":
        return t.unpause(String(req.domain));
      case "destroy":
        return t.destroy(String(req.domain));
      case "reboot":
        return t.shutdown(String(req.domain), "reboot");
      case "shutdown":
        return t.shutdown(String(req.domain), "poweroff", req.wait === true);
      case "mem-set":
        return t.memSet(String(req.domain), Number(req.mib));
      case "mem-max":
        return t.memMax(String(req.domain), Number(req.mib));
      case "dmesg":
        return t.dmesg(req.domain === undefined ? undefined : String(req.domain));
      case "xenstore-read":
        return storeOp(`xenstore-read ${req.path}`, () => this.store.read(String(req.path)));
      case "xenstore-write":
        return storeOp(`xenstore-write ${req.path}`, () =>
          this.store.write(String(req.path), String(req.value)),
        );
      case "xenstore-rm":
        return storeOp(`xenstore-rm ${req.path}`, () => this.store.rm(String(req.path)));
      case "xenstore-ls":
        return storeOp(`xenstore-ls ${req.path}`, () => this.ls(String(req.path)));
      case "block-list":
        return blockList(this.store, t.resolve(String(req.domain)));
      case "block-attach":
        if (typeof req.cwd !== "string" || !req.cwd.startsWith("/"))
          throw new Error("block-attach: the request names no directory for a relative target (cwd)");
        return t.hotplug.blockAttach(String(req.domain), String(req.disk), req.cwd);
      case "block-detach":
        return t.hotplug.blockDetach(String(req.domain), String(req.vdev), req.force === true);
      case "network-attach":
        return t.hotplug.networkAttach(String(req.domain), String(req.vif));
      case "network-detach":
        return t.hotplug.networkDetach(String(req.domain), String(req.vif), req.force === true);
      default:
        throw new Error(`unknown request "${(req as { op: string }).op}"`);
    }
  }

  /** network-list, capture and uplinks: served by dom0's netback (netback/net-control.ts). */
  private network(): NetControl {
    const netback = this.netback;
    if (!netback) throw new Error("dom0 runs no network backend");
    return (this.net ??= new NetControl(netback, this.store, (d) => this.toolstack.resolve(d)));
  }

  /** xenstore-ls's tree format: `name = "value"`, children indented by one space. */
  private ls(path: string): string {
    const out: string[] = [];
    const walk = (p: string, depth: number) => {
      for (const child of this.store.directory(p)) {
        const full = p === "/" ? `/${child}` : `${p}/${child}`;
        out.push(`${" ".repeat(depth)}${child} = "${this.store.tryRead(full) ?? ""}"`);
        walk(full, depth + 1);
      }
    };
    walk(path, 0);
    return out.join("\n") + (out.length ? "\n" : "");
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

export { formatDomainList };

/** What a xenstored error means, in words (a user never sees a raw errno). */
const STORE_ERRORS: Record<string, string> = {
  ENOENT: "no such node",
  EACCES: "permission denied",
  EINVAL: "not a valid path",
  ENOSPC: "over a quota",
  ENOMEM: "over the store's memory quota",
  E2BIG: "too large for one reply",
  EAGAIN: "changed meanwhile; try again",
  EEXIST: "already there",
  EPERM: "not allowed",
};

/** Runs a store operation; its failure becomes "<what>: <why>". */
function storeOp<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof XsdError) throw new Error(`${what}: ${STORE_ERRORS[e.code] ?? e.code}`);
    throw e;
  }
}
