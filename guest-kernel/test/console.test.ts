import { describe, expect, it } from "vitest";
import { Console } from "../src/console/console.ts";
import { LineEditor } from "../src/console/lineedit.ts";
import { Dmesg, formatStamp } from "../src/console/dmesg.ts";
import { ByteRing } from "../src/kernel/bytering.ts";
import { XENCONS } from "../src/kernel/xen.ts";

const dec = new TextDecoder();
const enc = new TextEncoder();

/** The backend's view of the same page: it consumes `out` and produces `in`. */
function backend(page: DataView) {
  const C = XENCONS;
  return {
    out: new ByteRing(page, { data: C.out, size: C.outSize, cons: C.outCons, prod: C.outProd }),
    in: new ByteRing(page, { data: C.in, size: C.inSize, cons: C.inCons, prod: C.inProd }),
  };
}

describe("byte ring", () => {
  it("wraps around the end of the data area with free-running indices", () => {
    const page = new DataView(new SharedArrayBuffer(4096));
    const L = { data: 0, size: 16, cons: 64, prod: 68 };
    const a = new ByteRing(page, L);
    const b = new ByteRing(page, L);
    // Start the indices near 2^32 so both the ring offset and the u32 index wrap.
    page.setUint32(64, 0xfffffff8, true);
    page.setUint32(68, 0xfffffff8, true);
    let sent = "";
    let got = "";
    for (let i = 0; i < 50; i++) {
      const chunk = `m${i};`;
      const n = a.write(enc.encode(chunk));
      sent += chunk.slice(0, n);
      got += dec.decode(b.read(i % 3 === 0 ? 3 : 100));
    }
    got += dec.decode(b.read());
    expect(got).toBe(sent);
    expect(sent.length).toBeGreaterThan(40);
    expect(page.getUint32(68, true)).toBeLessThan(0x1000); // prod wrapped past 2^32
  });

  it("never writes more than the space left and reports a corrupt peer", () => {
    const page = new DataView(new ArrayBuffer(4096));
    const L = { data: 0, size: 8, cons: 64, prod: 68 };
    const r = new ByteRing(page, L);
    expect(r.write(enc.encode("0123456789"))).toBe(8);
    expect(r.space()).toBe(0);
    page.setUint32(68, 100, true); // prod - cons = 100 > size
    expect(r.corrupt()).toBe(true);
    expect(r.read().length).toBe(0);
    expect(() => new ByteRing(page, { ...L, size: 12 })).toThrow(/power of two/);
  });
});

describe("console front", () => {
  it("sends output early through console_io, then through the ring with CRLF", () => {
    const early: string[] = [];
    const con = new Console((b) => early.push(dec.decode(b)));
    con.write("boot\n");
    const page = new DataView(new SharedArrayBuffer(4096));
    let kicks = 0;
    con.attach(page, () => kicks++);
    con.write("hello\nworld\n");
    expect(early).toEqual(["boot\r\n"]);
    expect(dec.decode(backend(page).out.read())).toBe("hello\r\nworld\r\n");
    expect(kicks).toBeGreaterThan(0);
  });

  it("queues output past a full ring and flushes it when the backend drains", () => {
    const page = new DataView(new SharedArrayBuffer(4096));
    const con = new Console(() => undefined);
    con.attach(page, () => undefined);
    const text = "abcdefghij".repeat(500); // 5000 bytes > 2048-byte out ring
    con.write(text);
    expect(con.queuedBytes).toBe(5000 - 2048);
    const be = backend(page);
    let got = "";
    for (let i = 0; i < 10 && got.length < text.length; i++) {
      got += dec.decode(be.out.read());
      con.poll();
    }
    expect(got).toBe(text);
    expect(con.queuedBytes).toBe(0);
  });

  it("reads lines typed into the in ring, echoing them", async () => {
    const page = new DataView(new SharedArrayBuffer(4096));
    const con = new Console(() => undefined);
    con.attach(page, () => undefined);
    const be = backend(page);
    const line = con.readline("$ ");
    be.in.write(enc.encode("ls -l\x7f\x7fal\r"));
    con.poll();
    expect(await line).toBe("ls al");
    expect(dec.decode(be.out.read())).toBe("$ ls -l\b \b\b \bal\r\n");
  });

  it("decodes UTF-8 split across two ring reads", async () => {
    const page = new DataView(new SharedArrayBuffer(4096));
    const con = new Console(() => undefined);
    con.attach(page, () => undefined);
    const be = backend(page);
    const bytes = enc.encode("héllo\n");
    be.in.write(bytes.subarray(0, 2));
    con.poll();
    be.in.write(bytes.subarray(2));
    con.poll();
    expect(await con.readline()).toBe("héllo");
  });
});

describe("line editor", () => {
  it("handles backspace, Ctrl-U, Ctrl-C, CRLF and arrow keys", () => {
    const ed = new LineEditor();
    expect(ed.feed("abc\x7f\bd\r\n").lines).toEqual(["ad"]);
    expect(ed.feed("junk\x15ok\n").lines).toEqual(["ok"]);
    const c = ed.feed("half\x03");
    expect(c.interrupts).toBe(1);
    expect(c.lines).toEqual([]);
    expect(c.echo.endsWith("^C\r\n")).toBe(true);
    expect(ed.feed("x\x1b[Ay\x1b[1;5Dz\r").lines).toEqual(["xyz"]);
    expect(ed.feed("\r\r").lines).toEqual(["", ""]);
  });

  it("does not echo a backspace at the start of a line", () => {
    const ed = new LineEditor();
    expect(ed.feed("\x7f").echo).toBe("");
    const u = ed.feed("ab\x15");
    expect(u.echo).toBe("ab" + "\b \b\b \b");
  });
});

describe("dmesg", () => {
  it("keeps the newest lines up to capacity, stamped", () => {
    const d = new Dmesg(3);
    d.add(1_500_000n, "a\nb\n");
    d.add(2_000_000_000n, "c");
    d.add(3_000_000_000n, "d");
    expect(d.all().map((l) => l.text)).toEqual(["b", "c", "d"]);
    expect(d.droppedLines).toBe(1);
    expect(d.format().split("\n")[0]).toBe("[    0.001500] b");
    expect(formatStamp(12_345_678_901n)).toBe("[   12.345678]");
  });
});
