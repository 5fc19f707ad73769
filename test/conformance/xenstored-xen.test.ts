/**
 * pvkit's xenstored against Xen 4.17's semantics, driven by Xen's own clients: libxenstore (through
 * xs-client.c) and Debian's xenstore-utils. Host tools are dom0; a second and third socket act as
 * guest domains 5 and 6 (`listen(path, { asDomain })`), so what a guest may do is tested with the
 * same clients. Each block is one difference the xenstored issue listed.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Xenstored } from "@pvkit/guest-kernel/dom0/xenstored/index";
import { writeDomainEntries } from "@pvkit/guest-kernel/dom0/toolstack/store-layout";
import type { DomainConfig } from "@pvkit/guest-kernel/dom0/toolstack/cfg";
import type { BuiltDomain } from "@pvkit/guest-kernel/dom0/toolstack/host";
import { LineProcess, buildXsClient, err, runFile, xenClientsMissing, xenstoreTool } from "./xen-clients.ts";

const missing = xenClientsMissing();
if (missing) console.warn(`skipping xenstored conformance with Xen's clients: ${missing}`);
const suite = missing ? describe.skip : describe;

/** Domains that exist on the (imagined) hypervisor: xenstored asks, as C xenstored asks Xen. */
const EXISTING = new Set([0, 5, 6, 7, 8]);
const dir = mkdtempSync(join(tmpdir(), "pvkit-xsx-"));
const sock = { dom0: join(dir, "dom0"), dom5: join(dir, "dom5"), dom6: join(dir, "dom6") };
const logs: string[] = [];
const xs = new Xenstored({ domainExists: (d) => EXISTING.has(d), log: (l) => logs.push(l) });
let client = "";

/** Runs xs-client's commands as `who`; returns its output lines. */
async function lib(who: keyof typeof sock, ...cmds: string[]): Promise<string[]> {
  const r = await runFile(client, cmds, sock[who]);
  expect(r.stderr).toBe("");
  return r.stdout.trimEnd().split("\n");
}
const tool = (who: keyof typeof sock, name: string, ...args: string[]) =>
  xenstoreTool(sock[who], name, ...args);

suite("xenstored as Xen 4.17, through Xen's own clients", { timeout: 60_000 }, () => {
  beforeAll(async () => {
    client = buildXsClient(dir);
    await xs.listen(sock.dom0);
    await xs.listen(sock.dom5, { asDomain: 5 });
    await xs.listen(sock.dom6, { asDomain: 6 });
    for (const d of [5, 6]) {
      xs.mkdir(`/local/domain/${d}`);
      xs.setPerms(`/local/domain/${d}`, [`n${d}`]);
    }
  });
  afterAll(async () => {
    await xs.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe("1. transactions", () => {
    it("read each node as of the transaction's first look, whatever others write; commit is EAGAIN", async () => {
      xs.write("/tool/tx/a", "1");
      xs.write("/tool/tx/b", "1");
      const p = new LineProcess(
        client,
        ["start 0", "read 0 /tool/tx/a", "wait", "read 0 /tool/tx/a", "read 0 /tool/tx/b", "end 0 T"],
        sock.dom0,
      );
      try {
        expect([await p.line(), await p.line()]).toEqual(["OK", "1"]);
        expect((await tool("dom0", "write", "/tool/tx/a", "2", "/tool/tx/b", "2")).code).toBe(0);
        p.go();
        // a keeps the value the transaction first saw; b is first looked at now, so it is new.
        expect([await p.line(), await p.line(), await p.line()]).toEqual(["GO", "1", "2"]);
        expect(await p.line()).toBe(err("EAGAIN"));
      } finally {
        p.kill();
      }
      expect(xs.read("/tool/tx/a")).toBe("2");
    });

    it("a transaction sees its own writes, nobody else does before commit", async () => {
      const out = await lib(
        "dom0",
        "start 1",
        "write 1 /tool/own/x mine",
        "read 1 /tool/own/x",
        "read - /tool/own/x",
        "end 1 T",
        "read - /tool/own/x",
      );
      expect(out).toEqual(["OK", "OK", "mine", err("ENOENT"), "OK", "mine"]);
    });

    it("commit re-checks the node quota: transactions each under it cannot add up past it", async () => {
      // Three directories of domain 5's own, one per transaction, so that no two conflict.
      for (const d of ["qa", "qb", "qc"]) {
        xs.mkdir(`/local/domain/5/${d}`);
        xs.setPerms(`/local/domain/5/${d}`, ["n5"]);
      }
      expect(xs.tree.entries(5)).toBe(4);
      expect((await tool("dom0", "control", "quota", "set", "nodes", "25")).code).toBe(0);
      try {
        const cmds = ["start 0", "start 1", "start 2"];
        for (const [t, d] of ["qa", "qb", "qc"].entries())
          for (let i = 0; i < 8; i++) cmds.push(`write ${t} ${d}/n${i} v`);
        cmds.push("end 0 T", "end 1 T", "end 2 T");
        const out = await lib("dom5", ...cmds);
        expect(out.slice(0, 27).every((l) => l === "OK")).toBe(true);
        // 4 + 8 = 12, + 8 = 20 nodes; the third would make 28 of 25.
        expect(out.slice(27)).toEqual(["OK", "OK", err("ENOSPC")]);
        expect(xs.tree.entries(5)).toBe(20);
      } finally {
        await tool("dom0", "control", "quota", "set", "nodes", "1000");
      }
    });
  });

  describe("1b. transactions and failures, found by a hostile review", () => {
    it("a write that fails inside a transaction leaves nothing, and fails the commit (ENOMEM)", async () => {
      const big = "x".repeat(3000);
      expect(
        await lib("dom5", "start 0", `write 0 fa/b ${big}`, "end 0 T", "read - fa/b", "read - fa"),
      ).toEqual(["OK", err("ENOSPC"), err("ENOMEM"), err("ENOENT"), err("ENOENT")]);
      expect(await lib("dom5", "write - fa/b small", "read - fa/b")).toEqual(["OK", "small"]);
      expect(xs.directory("/local/domain/5/fa")).toEqual(["b"]);
    });

    it("a commit is checked against the node quota even if the count ends where it began", async () => {
      const at = xs.tree.entries(5);
      expect((await tool("dom0", "control", "quota", "set", "nodes", String(at))).code).toBe(0);
      try {
        expect(await lib("dom5", "start 0", "rm 0 qa/n0", "write 0 qa/n0 again", "end 0 T")).toEqual([
          "OK",
          "OK",
          "OK",
          err("ENOSPC"),
        ]);
      } finally {
        await tool("dom0", "control", "quota", "set", "nodes", "1000");
      }
    });

    it("an unwatch of a path that could not be watched is ENOENT, as Xen", async () => {
      expect(await lib("dom5", "watch m1 t", "unwatch bad!path t")).toEqual(["OK", err("ENOENT")]);
    });
  });

  describe("2. domains that go away, and permissions for domains that do not exist", () => {
    it("a released domain's nodes are deleted, wherever they are", async () => {
      xs.mkdir("/tool/left");
      xs.setPerms("/tool/left", ["n7"]);
      xs.write("/tool/left/deep", "x");
      xs.mkdir("/local/domain/7");
      xs.setPerms("/local/domain/7", ["n7"]);
      expect(await lib("dom0", "introduce 7 0 3", "release 7")).toEqual(["OK", "OK"]);
      expect((await tool("dom0", "read", "/tool/left/deep")).code).not.toBe(0);
      expect((await tool("dom0", "read", "/local/domain/7")).code).not.toBe(0);
    });

    it("SET_PERMS: an owner that does not exist is ENOENT; another entry for one is kept, and ignored", async () => {
      xs.write("/tool/p", "x");
      expect(await lib("dom0", "setperms /tool/p n9")).toEqual([err("ENOENT")]);
      expect(await lib("dom0", "setperms /tool/p n0 r9", "perms /tool/p")).toEqual(["OK", "n0,r9"]);
      expect(await lib("dom0", "setperms /tool/p n0 r5", "perms /tool/p")).toEqual(["OK", "n0,r5"]);
      expect(await lib("dom5", "read - /tool/p")).toEqual(["x"]);
      expect(await lib("dom6", "read - /tool/p")).toEqual([err("EACCES")]);
    });
  });

  describe("3. path length", () => {
    it("2048 characters, plus a /local/domain/<id>/ prefix", async () => {
      const long = (n: number) => "x".repeat(n);
      expect(await lib("dom0", `write - /${long(2047)} v`)).toEqual(["OK"]);
      expect(await lib("dom0", `write - /${long(2048)} v`)).toEqual([err("EINVAL")]);
      expect(await lib("dom0", `write - /local/domain/6/${long(2048)} v`)).toEqual(["OK"]);
      expect(await lib("dom0", `write - /local/domain/6/${long(2049)} v`)).toEqual([err("EINVAL")]);
      // A guest's relative path: the same 2048 (in two names: one of 2048 would not fit its
      // parent's record, ENOSPC, as in Xen).
      expect(await lib("dom5", `write - ${long(1000)}/${long(1047)} v`)).toEqual(["OK"]);
      expect(await lib("dom5", `write - ${long(1000)}/${long(1048)} v`)).toEqual([err("EINVAL")]);
      expect(await lib("dom0", `rm - /${long(2047)}`)).toEqual(["OK"]);
    });
  });

  describe("4. special @ names", () => {
    it("are never nodes, may all be watched, and only their list's readers hear domain events", async () => {
      expect(await lib("dom0", "read - @foo", "write - @foo x", "perms @releaseDomain")).toEqual([
        err("EINVAL"),
        err("EINVAL"),
        err("EINVAL"), // 4.17 has no node behind a special name to GET_PERMS
      ]);
      const guest = new LineProcess("/usr/bin/xenstore-watch", ["@releaseDomain"], sock.dom5);
      const any = new LineProcess("/usr/bin/xenstore-watch", ["@anything"], sock.dom5);
      try {
        expect(await guest.line()).toBe("@releaseDomain");
        expect(await any.line()).toBe("@anything");
        // Domain 5 may not hear it yet (the list is "n0"), and may not change the list.
        expect(await lib("dom0", "introduce 8 0 4", "release 8")).toEqual(["OK", "OK"]);
        expect(await lib("dom5", "setperms @releaseDomain n0 r5")).toEqual([err("EACCES")]);
        expect(await lib("dom0", "setperms @releaseDomain n0 r5")).toEqual(["OK"]);
        expect(await lib("dom0", "introduce 8 0 4", "release 8")).toEqual(["OK", "OK"]);
        expect(await guest.line()).toBe("@releaseDomain"); // the second release only
        expect(await lib("dom0", "setperms @nosuch n0")).toEqual([err("EINVAL")]);
      } finally {
        guest.kill();
        any.kill();
      }
    });
  });

  describe("5. domain operations", () => {
    it("INTRODUCE, RELEASE, RESUME, SET_TARGET and IS_DOMAIN_INTRODUCED as Xen answers them", async () => {
      expect(await lib("dom0", "isintro 0", "isintro 6", "isintro 32752")).toEqual(["T", "F", "T"]);
      expect(await lib("dom0", "introduce 99 0 3", "introduce 6 0 0")).toEqual([
        err("EINVAL"),
        err("EINVAL"),
      ]);
      expect(await lib("dom0", "introduce 6 0 3", "isintro 6", "introduce 6 0 5")).toEqual(["OK", "T", "OK"]);
      expect(await lib("dom0", "release 0", "resume 0", "release 42", "resume 6")).toEqual([
        err("EINVAL"),
        err("EINVAL"),
        err("ENOENT"),
        "OK",
      ]);
      // SET_TARGET needs both introduced: 5 is known (it owns nodes) but not introduced.
      expect(await lib("dom0", "target 6 5", "target 6 42")).toEqual([err("EINVAL"), err("ENOENT")]);
      // Privileged only.
      expect(await lib("dom5", "isintro 0", "introduce 5 0 3", "release 6")).toEqual([
        err("EACCES"),
        err("EACCES"),
        err("EACCES"),
      ]);
      expect(await lib("dom0", "release 6")).toEqual(["OK"]);
    });

    it("an unknown type is ENOSYS; an oversize message drops the connection without a reply", async () => {
      const raw = (bytes: Uint8Array) =>
        new Promise<Buffer>((resolve) => {
          const s = connect(sock.dom0);
          const got: Buffer[] = [];
          s.on("data", (b) => {
            got.push(b);
            if (Buffer.concat(got).length >= 16 + 7) s.end();
          });
          s.on("close", () => resolve(Buffer.concat(got)));
          s.write(bytes);
        });
      const header = (type: number, len: number) => {
        const h = Buffer.alloc(16);
        h.writeUInt32LE(type, 0);
        h.writeUInt32LE(1, 4);
        h.writeUInt32LE(len, 12);
        return h;
      };
      const unknown = await raw(Buffer.concat([header(99, 2), Buffer.from("x\0")]));
      expect(unknown.subarray(16).toString()).toBe("ENOSYS\0");
      expect((await raw(header(2, 5000))).length).toBe(0);
    });
  });

  describe("6. the toolstack's nodes a guest may not write", () => {
    it("name, domid, vm, console/* and store/* are read-only to the guest, as libxl makes them", async () => {
      const cfg = { name: "g6", uuid: "00000000-0000-0000-0000-000000000006", memory: 16, maxmem: 16 };
      const built = { consoleGfn: 1n, consolePort: 2, storeGfn: 3n, storePort: 4 };
      writeDomainEntries(xs, 6, cfg as DomainConfig, built as BuiltDomain);
      for (const node of ["name", "domid", "vm", "console/port", "store/ring-ref", "memory/target"]) {
        expect(await lib("dom6", `read - ${node}`, `write - ${node} x`)).toEqual([
          expect.any(String),
          err("EACCES"),
        ]);
      }
      expect(
        await lib("dom6", "write - data/mine x", "write - control/shutdown", "write - newnode x"),
      ).toEqual(["OK", "OK", err("EACCES")]);
      expect((await tool("dom6", "read", "name")).stdout).toBe("g6\n");
    });
  });

  describe("7. xenstore-control", () => {
    it("quota shows and sets (and the new value applies), quota <domid>, quota-soft, check, log, memreport", async () => {
      const show = await tool("dom0", "control", "quota");
      expect(show.stdout).toMatch(/^Quota settings:\nnodes {12}: {5}1000 Nodes per domain\n/);
      expect(show.stdout).toContain("path-max         :     2048 Max. length of a node path");
      expect((await tool("dom0", "control", "quota", "set", "node-size", "100")).code).toBe(0);
      expect(await lib("dom5", `write - small ${"x".repeat(100)}`)).toEqual([err("ENOSPC")]);
      expect((await tool("dom0", "control", "quota", "set", "node-size", "2048")).code).toBe(0);
      expect(await lib("dom5", `write - small ${"x".repeat(100)}`)).toEqual(["OK"]);
      expect((await tool("dom0", "control", "quota", "set", "node-size", "0")).code).toBe(3); // EINVAL
      const d5 = await tool("dom0", "control", "quota", "5");
      expect(d5.stdout).toMatch(/^Domain 5:\nnodes {11}: +\d+\nwatches {9}: +\d+\ntransactions/);
      expect((await tool("dom0", "control", "quota", "4242")).code).toBe(3); // ENOENT
      expect((await tool("dom0", "control", "quota-soft")).stdout).toContain("memory           :  2097152");
      expect((await tool("dom0", "control", "check")).code).toBe(0);
      expect(logs).toContain("xenstored: Checking store complete.");
      const trace = join(dir, "trace");
      expect((await tool("dom0", "control", "memreport")).code).toBe(3); // no trace file: EBADF
      expect((await tool("dom0", "control", "logfile", trace)).code).toBe(0);
      expect((await tool("dom0", "control", "log", "on")).code).toBe(0);
      expect((await tool("dom0", "control", "memreport")).code).toBe(0);
      expect((await tool("dom0", "control", "log", "off")).code).toBe(0);
      const text = readFileSync(trace, "utf8");
      expect(text).toMatch(/xenstored memory report: \d+ nodes/);
      expect(text).toMatch(/IN socket#\d+ type 0 /); // the traced XS_CONTROL requests
      expect((await tool("dom5", "control", "check")).code).not.toBe(0); // EACCES for a guest
    });
  });

  describe("quotas on memory", () => {
    it("count nodes, watches and queued messages; past the hard quota a guest gets ENOMEM", async () => {
      const shown = (await tool("dom0", "control", "quota", "5")).stdout;
      const use = Number(/^memory +: +(\d+)$/m.exec(shown)![1]);
      expect(use).toBeGreaterThan(0);
      expect((await tool("dom0", "control", "quota", "set", "memory", String(use + 2500))).code).toBe(0);
      try {
        const kib = "x".repeat(1000);
        expect(await lib("dom5", `write - m1 ${kib}`, `write - m2 ${kib}`, `write - m3 ${kib}`)).toEqual([
          "OK",
          "OK",
          err("ENOMEM"),
        ]);
        // About 390 bytes are left: a watch costs its path and token.
        expect(await lib("dom5", `watch m1 ${"t".repeat(500)}`, "watch m1 short")).toEqual([
          err("ENOMEM"),
          "OK",
        ]);
        expect(await lib("dom0", `write - /local/domain/5/by-dom0 ${kib}`)).toEqual(["OK"]); // dom0 is exempt
        // Open transactions' copies count too: parallel transactions cannot add up past the quota.
        const cmds = ["start 0", "start 1", "start 2"];
        for (const t of [0, 1, 2]) cmds.push(`write ${t} tx${t} ${kib}`);
        const out = await lib("dom5", ...cmds, "end 0 T", "end 1 T", "end 2 T");
        expect(out.filter((l) => l === err("ENOMEM")).length).toBeGreaterThan(0);
      } finally {
        await tool("dom0", "control", "quota", "set", "memory", String(2.5 * 1024 * 1024));
      }
    });
  });

  describe("8. mkdir", () => {
    it("of an existing node checks write permission", async () => {
      xs.write("/local/domain/5/ro", "x");
      xs.setPerms("/local/domain/5/ro", ["n0", "r5"]);
      expect(await lib("dom5", "mkdir - ro", "mkdir - /local/domain/5/fresh")).toEqual([err("EACCES"), "OK"]);
      expect(await lib("dom6", "mkdir - /local/domain/5")).toEqual([err("EACCES")]);
    });
  });
});
