import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { XsdError } from "../src/dom0/xenstored/index.ts";
import { Framer, bytesOf, encodeMsg, pathAndValue, stringArgs, textOf } from "../src/dom0/xenstored/wire.ts";

describe("xs_wire codec", () => {
  it("reassembles messages split at any byte boundary", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(30), fc.uint8Array({ maxLength: 200 })), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 10 }),
        (msgs, cuts) => {
          const stream = Buffer.concat(msgs.map(([t, p], i) => encodeMsg(t, i, 7, p)));
          const f = new Framer();
          const out: Array<[number, number[]]> = [];
          for (let off = 0, k = 0; off < stream.length; k++) {
            const n = cuts[k % cuts.length];
            f.push(new Uint8Array(stream.subarray(off, off + n)));
            off += n;
            for (let fr = f.next(); fr?.kind === "msg"; fr = f.next())
              out.push([fr.msg.type, [...fr.msg.payload]]);
          }
          expect(out).toEqual(msgs.map(([t, p]) => [t, [...p]]));
          expect(f.pending).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("asks for exactly the bytes the next frame needs, and flags oversize lengths", () => {
    const f = new Framer();
    expect(f.wanted()).toBe(16);
    const m = encodeMsg(2, 1, 0, bytesOf("/a\0"));
    f.push(m.subarray(0, 10));
    expect(f.wanted()).toBe(6);
    f.push(m.subarray(10, 16));
    expect(f.wanted()).toBe(3);
    f.push(m.subarray(16));
    expect(f.next()?.kind).toBe("msg");
    const big = new Uint8Array(16);
    new DataView(big.buffer).setUint32(12, 4097, true);
    f.push(big);
    expect(f.next()).toEqual({ kind: "oversize", reqId: 0, len: 4097 });
  });

  it("requires NUL-terminated arguments in the expected number", () => {
    expect(stringArgs(bytesOf("a\0b\0"), 2)).toEqual(["a", "b"]);
    expect(stringArgs(bytesOf("\0"))).toEqual([""]);
    expect(() => stringArgs(bytesOf("a\0b"), 2)).toThrow(XsdError);
    expect(() => stringArgs(bytesOf(""), 1)).toThrow(/EINVAL/);
    expect(() => stringArgs(bytesOf("a\0b\0c\0"), 2)).toThrow(/EINVAL/);
    expect(pathAndValue(bytesOf("/p\0v\0w"))).toEqual({ path: "/p", value: bytesOf("v\0w") });
    expect(() => pathAndValue(bytesOf("/p"))).toThrow(/EINVAL/);
    const all = new Uint8Array(256).map((_, i) => i);
    expect([...bytesOf(textOf(all))]).toEqual([...all]);
  });
});
