/**
 * The allocation gate counts what each way of making a typed array or buffer allocates, whatever
 * the result claims about itself: copies (of any size, from any source) are counted at their size,
 * views of a buffer that already exists cost nothing (the gate knows one by its argument, a real
 * buffer, and asks the result nothing), a subclass's lying getters change nothing, and a copy that
 * cannot fit is refused before it is made. Its intrinsics replaced, the process
 * that installs it is a child of this test (fixtures/gate-counts.ts).
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const FIXTURE = fileURLToPath(new URL("./fixtures/gate-counts.ts", import.meta.url));

it("counts every copy at its size and no view of a buffer", () => {
  const out = execFileSync(process.execPath, ["--expose-gc", "--import", "tsx", FIXTURE], {
    encoding: "utf8",
  });
  const counted = JSON.parse(out) as Record<string, number>;
  expect(counted).toEqual({
    "length 48": 48,
    "length 4096 of Float64Array": 4096 * 8,
    "view of 32 KiB": 0,
    "view of 16 bytes": 0,
    "view of a whole buffer": 0,
    "subarray of 32 KiB": 0,
    "copy of 32 KiB from a typed array": 1 << 15,
    "copy of 48 bytes from an array": 48,
    "copy of 8 KiB from an array-like": 8192,
    "copy of 4 KiB from an iterable": 4096,
    // slice makes its result through the species constructor (the gate's wrapper), and is wrapped
    // itself: counted twice, never missed.
    "slice of 48 bytes": 96,
    "slice of 32 KiB": 1 << 16,
    "a liar of 32 KiB": 1 << 15,
    "a liar's copy of 32 KiB": 1 << 15,
    "ArrayBuffer of 4 KiB": 4096,
    "resizable ArrayBuffer up to 64 KiB": 1 << 16,
    "SharedArrayBuffer of 4 KiB": 4096,
    "TextEncoder.encode of 40 bytes": 40,
    // Refused before V8 allocates: nothing was made on the way (V8 would have filled 16 GiB).
    "refused: an array-like of 2^31 doubles": 0,
    "refused: a typed array's copy past the bound": 0,
    "copies read as the constructors read": 1,
    "a hostile newTarget changes nothing": 1,
  });
}, 60_000);
