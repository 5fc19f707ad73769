import { describe, expect, it } from "vitest";
import * as X from "../src/dom0/xenstored/abi.ts";
import { Xenstored, XsdError } from "../src/dom0/xenstored/index.ts";
import { canonicalPath } from "../src/dom0/xenstored/path.ts";
import { accessFor, inheritPerms, parsePerm, withoutDomain } from "../src/dom0/xenstored/perms.ts";
import { TestConn } from "./xenstored-helpers.ts";

/** A store where dom0 gave domain `id` its home, as the toolstack does. */
function withHome(...ids: number[]) {
  const xs = new Xenstored();
  for (const id of ids) {
    xs.mkdir(`/local/domain/${id}`);
    xs.setPerms(`/local/domain/${id}`, [`n${id}`]);
  }
  return xs;
}

describe("paths", () => {
  it("resolves relative paths into the domain's home and rejects bad names", () => {
    expect(canonicalPath("device/vbd", 7)).toBe("/local/domain/7/device/vbd");
    expect(canonicalPath("/", 7)).toBe("/");
    for (const bad of ["", "/a/", "/a//b", "/a b", "/a\0", "/é", "/" + "x".repeat(3072)]) {
      expect(() => canonicalPath(bad, 0)).toThrow(XsdError);
    }
    expect(() => canonicalPath("x".repeat(2049), 3)).toThrow(/EINVAL/);
    expect(canonicalPath("x".repeat(2048), 3)).toHaveLength("/local/domain/3/".length + 2048);
  });
});

describe("permissions", () => {
  const who = (domid: number) => ({ domid, privileged: domid === 0 });
  it("gives owner and dom0 full access, listed domains their entry, others the default", () => {
    const perms = ["n5", "r7", "w8"].map(parsePerm);
    // Owner and dom0: read, write and the owner's right to set perms (8).
    expect(accessFor(perms, who(5))).toBe(11);
    expect(accessFor(perms, who(0))).toBe(11);
    expect(accessFor(perms, who(7))).toBe(1);
    expect(accessFor(perms, who(8))).toBe(2);
    expect(accessFor(perms, who(9))).toBe(0);
    expect(() => parsePerm("x1")).toThrow(/EINVAL/);
    expect(() => parsePerm("r70000")).toThrow(/EINVAL/);
  });
  it("a new node inherits its parent's perms, owned by an unprivileged creator", () => {
    const parent = ["n0", "b5", "r6"].map(parsePerm);
    expect(inheritPerms(parent, who(0))).toEqual(parent);
    expect(inheritPerms(parent, who(5)).map((p) => [p.id, p.perm])).toEqual([
      [5, 0],
      [5, 3],
      [6, 1],
    ]);
    expect(withoutDomain(["n5", "r6"].map(parsePerm), 5)).toEqual([
      { id: 0, perm: 0 },
      { id: 6, perm: 1 },
    ]);
  });

  it("enforces read/write over the wire and inherits on implicit parent creation", () => {
    const xs = withHome(5, 6);
    const d5 = new TestConn(xs, 5);
    const d6 = new TestConn(xs, 6);
    expect(d5.req(X.XS_WRITE, "a/b/c\0v").text).toBe("OK\0");
    // a and a/b were created implicitly, each owned by the creator.
    expect(d5.req(X.XS_GET_PERMS, "a/b\0").text).toBe("n5\0");
    expect(d5.req(X.XS_READ, "/local/domain/5/a/b/c\0").text).toBe("v");
    expect(d6.req(X.XS_READ, "/local/domain/5/a/b/c\0").error).toBe("EACCES");
    expect(d6.req(X.XS_WRITE, "/local/domain/5/x\0v").error).toBe("EACCES");
    expect(d6.req(X.XS_READ, "/\0").error).toBe("EACCES");
    // The owner lends read access to 6; 6 still cannot write, or change perms.
    expect(d5.req(X.XS_SET_PERMS, "a/b/c\0n5\0r6\0").text).toBe("OK\0");
    expect(d6.req(X.XS_READ, "/local/domain/5/a/b/c\0").text).toBe("v");
    expect(d6.req(X.XS_WRITE, "/local/domain/5/a/b/c\0w").error).toBe("EACCES");
    expect(d6.req(X.XS_SET_PERMS, "/local/domain/5/a/b/c\0n6\0").error).toBe("EACCES");
    // An unprivileged owner cannot give a node away.
    expect(d5.req(X.XS_SET_PERMS, "a/b/c\0n6\0").error).toBe("EPERM");
    // dom0 over the wire sees everything.
    expect(new TestConn(xs, 0).req(X.XS_READ, "/local/domain/5/a/b/c\0").text).toBe("v");
    // A child created by 5 under a node that lends r6 carries the r6 entry too.
    expect(d5.req(X.XS_WRITE, "a/b/c/d\0").text).toBe("OK\0");
    expect(xs.getPerms("/local/domain/5/a/b/c/d")).toEqual(["n5", "r6"]);
  });

  it("releasing a domain deletes what it owns; its entries elsewhere stop applying to a new domain with its id", () => {
    const xs = withHome(5);
    const d5 = new TestConn(xs, 5);
    expect(d5.req(X.XS_WRITE, "mine/a\0v").text).toBe("OK\0");
    xs.write("/shared", "x");
    xs.setPerms("/shared", ["n0", "r5"]);
    xs.introduceDomain(5);
    xs.releaseDomain(5);
    // Xen deletes nodes owned by a domain that goes away (keeping them is its -K option).
    expect(xs.tryRead("/local/domain/5/mine/a")).toBeUndefined();
    expect(xs.tryRead("/local/domain/5")).toBeUndefined();
    // The entry is still listed, but a new domain 5 does not inherit it.
    expect(xs.getPerms("/shared")).toEqual(["n0", "r5"]);
    const again = new TestConn(xs, 5);
    expect(again.req(X.XS_READ, "/shared\0").error).toBe("EACCES");
  });
});

describe("store operations", () => {
  it("read/write/mkdir/rm/directory with Xen's edge cases", () => {
    const xs = new Xenstored();
    const c = new TestConn(xs, 0);
    expect(c.req(X.XS_READ, "/nope\0").error).toBe("ENOENT");
    expect(c.req(X.XS_WRITE, "/a/b\0hello").text).toBe("OK\0");
    expect(c.req(X.XS_READ, "/a/b\0").text).toBe("hello");
    expect(c.req(X.XS_MKDIR, "/a/b\0").text).toBe("OK\0");
    expect(c.req(X.XS_READ, "/a/b\0").text).toBe("hello"); // mkdir keeps an existing node
    expect(c.req(X.XS_MKDIR, "/a/c\0").text).toBe("OK\0");
    expect(c.req(X.XS_DIRECTORY, "/a\0").text).toBe("b\0c\0");
    expect(c.req(X.XS_RM, "/a/zz\0").text).toBe("OK\0"); // missing, parent exists
    expect(c.req(X.XS_RM, "/q/zz\0").error).toBe("ENOENT");
    expect(c.req(X.XS_RM, "/\0").error).toBe("EINVAL");
    expect(c.req(X.XS_RM, "/a\0").text).toBe("OK\0");
    expect(c.req(X.XS_READ, "/a/b\0").error).toBe("ENOENT");
    expect(c.req(X.XS_DIRECTORY, "/\0").text).toBe("local\0tool\0");
    expect(c.req(X.XS_GET_DOMAIN_PATH, "12\0").text).toBe("/local/domain/12\0");
    expect(c.req(X.XS_READ, "/a\0b\0").error).toBe("EINVAL");
    expect(c.req(X.XS_READ, "/a").error).toBe("EINVAL"); // missing NUL
    // Unknown types and those only the server sends: ENOSYS, as process_message answers.
    expect(c.req(99, "x\0").error).toBe("ENOSYS");
    expect(c.req(X.XS_WATCH_EVENT, "x\0t\0").error).toBe("ENOSYS");
    expect(c.req(X.XS_CONTROL, "nope\0").error).toBe("EINVAL");
    expect(c.req(X.XS_CONTROL, "help\0").text).toContain("print");
    expect(new TestConn(xs, 3).req(X.XS_INTRODUCE, "4\x00100\x005\0").error).toBe("EACCES");
  });

  it("values are bytes: binary values round-trip", () => {
    const xs = new Xenstored();
    const value = new Uint8Array([0, 1, 255, 10, 0]);
    xs.write("/bin", value);
    expect([...xs.readBytes("/bin")]).toEqual([...value]);
  });
});

describe("transactions", () => {
  it("isolate until commit and fail with EAGAIN on conflict", () => {
    const xs = new Xenstored();
    xs.write("/t/x", "1");
    const a = new TestConn(xs, 0);
    const tx = Number.parseInt(a.req(X.XS_TRANSACTION_START, "\0").text, 10);
    expect(tx).toBeGreaterThan(0);
    expect(a.req(X.XS_READ, "/t/x\0", tx).text).toBe("1");
    expect(a.req(X.XS_WRITE, "/t/y\0new", tx).text).toBe("OK\0");
    expect(a.req(X.XS_READ, "/t/y\0", tx).text).toBe("new");
    expect(xs.tryRead("/t/y")).toBeUndefined(); // invisible outside
    expect(a.req(X.XS_TRANSACTION_END, "T\0", tx).text).toBe("OK\0");
    expect(xs.read("/t/y")).toBe("new");

    const tx2 = Number.parseInt(a.req(X.XS_TRANSACTION_START, "\0").text, 10);
    expect(a.req(X.XS_READ, "/t/x\0", tx2).text).toBe("1");
    xs.write("/t/x", "2"); // someone else changes what tx2 read
    expect(a.req(X.XS_WRITE, "/t/z\0v", tx2).text).toBe("OK\0");
    expect(a.req(X.XS_TRANSACTION_END, "T\0", tx2).error).toBe("EAGAIN");
    expect(xs.tryRead("/t/z")).toBeUndefined(); // nothing applied
    expect(a.req(X.XS_TRANSACTION_END, "T\0", tx2).error).toBe("ENOENT"); // gone either way
    expect(a.req(X.XS_READ, "/t/x\0", 12345).error).toBe("ENOENT");
  });

  it("abort discards, a write of an unread sibling's parent conflicts, nesting is EBUSY", () => {
    const xs = new Xenstored();
    const a = new TestConn(xs, 0);
    const tx = Number.parseInt(a.req(X.XS_TRANSACTION_START, "\0").text, 10);
    expect(a.req(X.XS_TRANSACTION_START, "\0", tx).error).toBe("EBUSY");
    a.req(X.XS_WRITE, "/p/a\0x", tx);
    xs.write("/p/b", "y"); // changes /p's child list, which tx's create of /p/a depended on
    expect(a.req(X.XS_TRANSACTION_END, "T\0", tx).error).toBe("EAGAIN");
    const tx2 = Number.parseInt(a.req(X.XS_TRANSACTION_START, "\0").text, 10);
    a.req(X.XS_WRITE, "/p/c\0x", tx2);
    expect(a.req(X.XS_TRANSACTION_END, "F\0", tx2).text).toBe("OK\0");
    expect(xs.directory("/p")).toEqual(["b"]);
    expect(() => xs.transaction((t) => t.write("/p/d", "1"))).not.toThrow();
    expect(xs.read("/p/d")).toBe("1");
  });
});

describe("XS_DIRECTORY_PART", () => {
  it("pages a directory too big for XS_DIRECTORY and restarts on generation change", () => {
    const xs = new Xenstored();
    const names = Array.from({ length: 400 }, (_, i) => `child-number-${i}`);
    for (const n of names) xs.write(`/big/${n}`, "");
    const c = new TestConn(xs, 0);
    expect(c.req(X.XS_DIRECTORY, "/big\0").error).toBe("E2BIG");
    const got: string[] = [];
    let gen = "";
    let pages = 0;
    for (let off = 0; pages < 20;) {
      pages++;
      const r = c.req(X.XS_DIRECTORY_PART, `/big\0${off}\0`).text;
      expect(r.length).toBeLessThanOrEqual(X.XENSTORE_PAYLOAD_MAX);
      const g = r.slice(0, r.indexOf("\0"));
      if (gen) expect(g).toBe(gen);
      gen = g;
      const body = r.slice(g.length + 1);
      const last = body.endsWith("\0\0") || body === "\0";
      const chunk = last ? body.slice(0, -1) : body;
      if (chunk) got.push(...chunk.slice(0, -1).split("\0"));
      off += chunk.length;
      if (last) break;
    }
    expect(pages).toBeGreaterThan(1);
    expect(got).toEqual(names);
    expect(xs.directory("/big")).toEqual(names);
    xs.write("/big/extra", "");
    const after = c.req(X.XS_DIRECTORY_PART, "/big\x000\0").text;
    expect(after.slice(0, after.indexOf("\0"))).not.toBe(gen);
    expect(c.req(X.XS_DIRECTORY_PART, "/big\x00999999\0").text).toMatch(/^\d+\0\0$/);
    // The offset is C's atoi into an unsigned int, as Xen reads it: "-1" is past the end.
    expect(c.req(X.XS_DIRECTORY_PART, "/big\0-1\0").text).toMatch(/^\d+\0\0$/);
  });
});

describe("quotas", () => {
  it("entries, node size, perms and transactions hit Xen's errors for guests only", () => {
    const xs = new Xenstored({ quota: { entriesPerDomain: 10, transactionsPerConnection: 2 } });
    xs.mkdir("/local/domain/5");
    xs.setPerms("/local/domain/5", ["n5"]); // the home counts against 5's entries
    const d = new TestConn(xs, 5);
    const results = Array.from({ length: 12 }, (_, i) => d.req(X.XS_WRITE, `n${i}\0v`).error ?? "OK");
    expect(results.filter((r) => r === "OK")).toHaveLength(9);
    expect(results.slice(9)).toEqual(["ENOSPC", "ENOSPC", "ENOSPC"]);
    // A failed multi-node create leaves nothing behind.
    expect(d.req(X.XS_RM, "n0\0").text).toBe("OK\0");
    expect(d.req(X.XS_WRITE, "deep/a/b\0v").error).toBe("ENOSPC");
    expect(d.req(X.XS_READ, "deep\0").error).toBe("ENOENT");
    // Xen charges the record: a 24-byte header, 8 bytes a permission, the value; under 2048.
    expect(d.req(X.XS_WRITE, `big\0${"x".repeat(2016)}`).error).toBe("ENOSPC");
    expect(d.req(X.XS_WRITE, `big\0${"x".repeat(2015)}`).text).toBe("OK\0");
    expect(d.req(X.XS_SET_PERMS, "n1\0n5\0r1\0r2\0r3\0r4\0r6\0").error).toBe("ENOSPC");
    // Xen refuses once more than the quota are open: one more than the quota may be.
    for (let i = 0; i < 3; i++) expect(d.req(X.XS_TRANSACTION_START, "\0").error).toBeUndefined();
    expect(d.req(X.XS_TRANSACTION_START, "\0").error).toBe("ENOSPC");
    // dom0 is exempt.
    for (let i = 0; i < 20; i++) xs.write(`/local/domain/5/dom0-${i}`, "x".repeat(3000));
  });

  it("a transaction's tracked nodes are bounded, reads of missing nodes included", () => {
    const xs = new Xenstored({ quota: { transactionNodes: 16 } });
    xs.mkdir("/local/domain/5");
    xs.setPerms("/local/domain/5", ["n5"]);
    const d = new TestConn(xs, 5);
    const tx = Number.parseInt(d.req(X.XS_TRANSACTION_START, "\0").text, 10);
    const errors = Array.from({ length: 40 }, (_, i) => d.req(X.XS_READ, `missing-${i}\0`, tx).error);
    // The first read also looks at the home (is the caller allowed to know?): 15 reads fill 16.
    expect(errors.slice(0, 15)).toEqual(Array(15).fill("ENOENT"));
    expect(errors.slice(15)).toEqual(Array(25).fill("ENOSPC"));
    // A transaction that hit the quota fails at commit (ENOMEM, as Xen's failed transaction).
    expect(d.req(X.XS_TRANSACTION_END, "T\0", tx).error).toBe("ENOMEM");
  });

  it("watches per connection: E2BIG past the quota, EEXIST for duplicates", () => {
    const xs = new Xenstored({ quota: { watchesPerDomain: 3 } });
    const d = new TestConn(xs, 5);
    // Xen refuses once more than the quota are set: one more than the quota may be.
    for (let i = 0; i < 4; i++) expect(d.req(X.XS_WATCH, `w${i}\0t\0`).text).toBe("OK\0");
    expect(d.req(X.XS_WATCH, "w9\0t\0").error).toBe("E2BIG");
    expect(d.req(X.XS_UNWATCH, "w0\0t\0").text).toBe("OK\0");
    expect(d.req(X.XS_WATCH, "w1\0t\0").error).toBe("EEXIST");
    expect(d.req(X.XS_UNWATCH, "w0\0t\0").error).toBe("ENOENT");
    expect(d.req(X.XS_RESET_WATCHES, "").text).toBe("OK\0");
    expect(xs.watches.count(d)).toBe(0);
  });
});

describe("xenstore-control check", () => {
  it("repairs a broken store as Xen's recovery does, logging each problem", () => {
    const logs: string[] = [];
    const xs = new Xenstored({ log: (l) => logs.push(l) });
    xs.write("/tool/a", "1");
    // Break it behind the handlers' back: a child that does not exist, and a node nobody lists.
    const tool = xs.tree.get("/tool")!;
    xs.tree.put("/tool", { ...tool, children: [...tool.children, "ghost"] });
    xs.tree.put("/lost/orphan", { value: new Uint8Array(0), perms: tool.perms, children: [] });
    expect(new TestConn(xs, 0).req(X.XS_CONTROL, "check\0").text).toBe("OK\0");
    expect(xs.directory("/tool")).toEqual(["a"]);
    expect(xs.tryRead("/lost/orphan")).toBeUndefined();
    expect(logs).toEqual([
      "xenstored: Checking store ...",
      "xenstored: check_store: node '/tool/ghost' not found",
      "xenstored: clean_store: '/lost/orphan' is orphaned!",
      "xenstored: Checking store complete.",
    ]);
    expect(xs.tree.entries(0)).toBe(xs.tree.size); // the counts follow
  });
});
