/**
 * A KernelHandle for shell tests: console output is collected, input lines come from a list,
 * xenstore is a Map, and shutdown records its kind.
 */
import type { KernelHandle, ShutdownKind } from "../../src/kernel/program.ts";
import { formatArgs } from "../../src/kernel/program.ts";

export function fakeHandle(input: string[] = []) {
  const out: string[] = [];
  const store = new Map<string, string>();
  const shutdowns: ShutdownKind[] = [];
  const abs = (p: string) => (p.startsWith("/") ? p : `/local/domain/5/${p}`);
  const enoent = () => Object.assign(new Error("xenstore ENOENT"), { code: "ENOENT" });
  const print = (...a: unknown[]) => out.push(formatArgs(a));
  const refuse = (what: string): never => {
    throw new Error(`the shell's fake kernel has no ${what}`);
  };
  const k: KernelHandle = {
    get hc(): never {
      throw new Error("the shell's fake kernel makes no hypercalls");
    },
    domid: 5,
    privileged: false,
    cmdline: "",
    console: {
      print,
      write: (t) => out.push(t),
      readline: async (p) => {
        if (p) out.push(p);
        const l = input.shift();
        if (l === undefined) throw new Error("no more input");
        return l;
      },
      onInterrupt: () => () => undefined,
    },
    events: {
      allocUnbound: () => refuse("event channels"),
      bindInterdomain: () => refuse("event channels"),
      notify: () => refuse("event channels"),
      close: () => refuse("event channels"),
    },
    grants: {
      share: () => refuse("grants"),
      map: () => refuse("grants"),
      mapMany: () => refuse("grants"),
      copyFrom: () => refuse("grants"),
      copyTo: () => refuse("grants"),
    },
    blk: { list: () => [], get: (name) => refuse(`disk ${name}`) },
    net: {
      list: () => [],
      get: (name) => refuse(`interface ${name}`),
      ip: async () => refuse("IPv4"),
      connect: async () => refuse("TCP"),
      listen: async () => refuse("TCP"),
      udp: async () => refuse("UDP"),
    },
    get fs(): never {
      return refuse("file system");
    },
    mounts: () => [],
    time: { sleep: async () => undefined, uptimeMs: () => 3_723_000, now: () => new Date(0) },
    xenstore: {
      read: async (p) => {
        const v = store.get(abs(p));
        if (v === undefined) throw enoent();
        return v;
      },
      tryRead: async (p) => store.get(abs(p)),
      write: async (p, v) => void store.set(abs(p), v),
      mkdir: async (p) => void store.set(abs(p), ""),
      rm: async (p) => void store.delete(abs(p)),
      ls: async (p) => {
        const pre = abs(p).replace(/\/$/, "") + "/";
        const kids = new Set<string>();
        for (const key of store.keys())
          if (key.startsWith(pre)) kids.add(key.slice(pre.length).split("/")[0]);
        if (kids.size === 0 && !store.has(abs(p))) throw enoent();
        return [...kids].sort();
      },
      getPerms: async (p) => {
        if (!store.has(abs(p))) throw enoent();
        return ["n5"];
      },
      setPerms: async (p) => {
        if (!store.has(abs(p))) throw enoent();
      },
      watch: async () => async () => undefined,
    },
    devices: async () => [{ type: "vbd", id: "768", state: 4, backend: "/local/domain/0/backend/vbd/5/768" }],
    sys: {
      ps: () => [{ id: 1, name: "init", state: "running", wchan: "", switches: 3 }],
      mem: () => ({ total: 256, free: 200, used: 56, max: 512 }),
      dmesg: () => "[    0.000000] booted",
      version: "test",
    },
    shutdown: async (kind = "poweroff") => {
      shutdowns.push(kind);
      return undefined as never;
    },
    print,
    sleep: async () => undefined,
  };
  return { k, out, store, shutdowns };
}
