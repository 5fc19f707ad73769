/**
 * Host modules, by every road: a domU program that imports one — by bare name or node: URL, through
 * require, a dynamic import, a data: URL, a helper file of its own, a CommonJS file, an npm package,
 * dom0's own services — is refused when its image is built, with one line naming the file, the line
 * and the import. So is every way of making the image builder (which runs with the host's authority)
 * read a host file into the image: import attributes, device files, files outside the program's
 * project, links that lead out of it, hidden folders. Nothing of it runs; dom0 and a bystander carry on.
 * Each is refused alike when built as a pooled worker's image, linked to the kernel image.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { currentKernelImage, guestImage } from "@pvkit/hypervisor/image/guest-image";
import { healthy, hostileGuest, shutdownOf, stage, type Stage } from "./harness.ts";

let s: Stage;
beforeAll(async () => void (s = await stage()), 60_000);
afterAll(() => s?.close());

const cases: [program: string, file: string, spec: string][] = [
  ["fs", "imports/fs.ts", "fs"],
  ["child-process", "imports/child-process.ts", "node:child_process"],
  ["inspector", "imports/inspector.ts", "node:inspector"],
  ["wasi", "imports/wasi.ts", "node:wasi"],
  ["node-test", "imports/node-test.ts", "node:test"],
  ["package", "imports/package.ts", "vitest"],
  ["data-url", "imports/data-url.ts", "data:text/javascript,export default '/node_modules/';"],
  ["require", "imports/require.ts", "child_process"],
  ["dynamic", "imports/dynamic.ts", "node:fs"],
  ["nested", "imports/lib/evil.ts", "node:child_process"],
  ["cjs", "imports/lib/uses-child.cjs", "child_process"],
  ["dom0", "imports/dom0.ts", "@pvkit/guest-kernel/dom0/privileged"],
];

const files: [program: string, message: RegExp][] = [
  [
    "attributes",
    /test\/hostile\/guests\/imports\/attributes\.ts:\d+: may not import "\/etc\/passwd" with attributes/,
  ],
  [
    "environ",
    /test\/hostile\/guests\/imports\/environ\.ts:\d+: may not import "\/proc\/self\/environ" with attributes/,
  ],
  ["devzero", /may not include \/dev\/zero \(not a source file/],
  ["outside", /may not include \/.*\/package\.json \(outside the program's folder and the guest SDK\)/],
  ["symlink", /symlink\.ts:\d+: may not include \/etc\/passwd \(not a source file/], // esbuild follows the link
  ["hidden", /may not include \/.*\/imports\/lib\/\.secrets\/key\.json \(outside the program's folder/],
];

/** The builder's line for `file`'s import of `spec`: "<path>:<line>: may not import "<spec>"". */
function refusedImport(file: string, spec: string): RegExp {
  const escaped = spec.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  return new RegExp(`test/hostile/guests/${file}:\\d+: may not import "${escaped}"`);
}

describe("a domU program that makes the image builder read a host file", () => {
  it.each(files)("%s: refused at build, the file never read", async (name, message) => {
    const d = s.hv.createDomain({
      name,
      memoryMiB: 4,
      program: hostileGuest(`imports/${name}`),
      rings: false,
    });
    const { reason, why } = await shutdownOf(s.hv, d.domid);
    expect(reason).toBe(3);
    expect(why).toMatch(/^pvkit: a domU has no host access: /);
    expect(why).toMatch(message);
    expect(why).not.toMatch(/root:|PATH=|not for guests/); // nothing of the file in the message
    await healthy(s);
  });
});

describe("a domU program that imports a host module", () => {
  it.each(cases)("%s: refused at build, naming the file and the import", async (name, file, spec) => {
    const d = s.hv.createDomain({
      name,
      memoryMiB: 4,
      program: hostileGuest(`imports/${name}`),
      rings: false,
    });
    const { reason, why } = await shutdownOf(s.hv, d.domid);
    expect(reason).toBe(3); // SHUTDOWN_crash
    expect(why).toMatch(new RegExp(`^pvkit: a domU has no host access: ${refusedImport(file, spec).source}`));
    expect(s.hv.consoleLog(d.domid)).toContain(why!.split("\n")[0]!);
    await healthy(s);
  });
});

/**
 * The same programs built as a pooled worker's image: linked to the kernel image, where every
 * import is resolved again by the linking plugin before the allow-list sees it. The stage above has
 * no pool, so its domains get whole images; this asks the builder directly for the linked ones.
 */
describe("the same programs, linked to the kernel image (a pooled worker's build)", () => {
  it.each([
    ...files,
    ...cases.map(([name, file, spec]): [string, RegExp] => [name, refusedImport(file, spec)]),
  ])("%s: refused the same way", async (name, message) => {
    const kernel = await currentKernelImage();
    const built = guestImage({ program: hostileGuest(`imports/${name}`) }, kernel);
    await expect(built).rejects.toThrow(/^pvkit: a domU has no host access: /);
    await expect(built).rejects.toThrow(message);
  });
});
