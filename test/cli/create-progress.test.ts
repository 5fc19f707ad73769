/**
 * `pvkit create`'s progress bar: drawn only on a terminal, only once a step has taken longer than
 * the threshold, and cleared at the end. The terminal is a stream that says it is one (isTTY), so
 * what cli-progress writes to it can be read back.
 */
import { once } from "node:events";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { createProgress } from "@pvkit/hypervisor/cli/create-progress";

/** A stream that claims to be an 80-column terminal and keeps what is written to it. */
function terminal(isTTY: boolean) {
  const s = Object.assign(new PassThrough(), { isTTY, columns: 80 });
  let text = "";
  s.on("data", (b: Buffer) => (text += b.toString()));
  return { stream: s as unknown as NodeJS.WriteStream & PassThrough, text: () => text };
}

const step = (index: number, name: string) => ({ step: name, index, total: 5 });

describe("create progress", () => {
  it("shows the step that is taking long, then clears it", async () => {
    const t = terminal(true);
    const p = createProgress("web.cfg", t.stream, 20);
    p.step(step(1, "reading the config"));
    p.step(step(3, "building it"));
    await once(t.stream, "data"); // drawn once the step has lasted 20 ms
    expect(t.text()).toMatch(/pvkit: create web\.cfg \[[^\]]*\] 2\/5 building it/);
    const drawn = t.text().length;
    p.done();
    await new Promise((r) => setImmediate(r));
    expect(t.text().slice(drawn)).toMatch(/\x1b\[1G\x1b\[2K$/); // back to column 1, line erased
  });

  it("says nothing when every step is quick", async () => {
    const t = terminal(true);
    const p = createProgress("web.cfg", t.stream, 60_000);
    for (let i = 1; i <= 5; i++) p.step(step(i, `step ${i}`));
    p.done();
    await new Promise((r) => setImmediate(r));
    expect(t.text()).toBe("");
  });

  it("says nothing when stderr is not a terminal, however long a step takes", async () => {
    const t = terminal(false);
    const p = createProgress("web.cfg", t.stream, 0);
    p.step(step(3, "building it"));
    await new Promise((r) => setTimeout(r, 0)); // past a zero threshold
    p.done();
    expect(t.text()).toBe("");
  });
});
