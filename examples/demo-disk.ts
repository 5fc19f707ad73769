/**
 * The demo guest's root disk: examples/images/demo-root.img, an ext2 image of examples/rootfs, made
 * the first time the demo runs and kept afterwards (it is the guest's disk: what the guest writes
 * stays). With e2fsprogs installed it is `mkfs.ext2 -d`, the tool a Xen user would reach for;
 * without, pvkit's own mkfs does the same from TypeScript.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const DEMO_DISK = fileURLToPath(new URL("./images/demo-root.img", import.meta.url));
const ROOTFS = fileURLToPath(new URL("./rootfs", import.meta.url));
const SIZE_MIB = 16;

const mkfsExt2 = ["/usr/sbin/mkfs.ext2", "/sbin/mkfs.ext2"].find((p) => existsSync(p));

/** Makes the image if it is not there; says which way it was made, or that it was there. */
export async function ensureDemoDisk(): Promise<string> {
  if (existsSync(DEMO_DISK)) return `using ${DEMO_DISK}`;
  mkdirSync(dirname(DEMO_DISK), { recursive: true });
  if (mkfsExt2) {
    execFileSync(mkfsExt2, ["-q", "-F", "-L", "pvkit-root", "-d", ROOTFS, DEMO_DISK, `${SIZE_MIB}M`], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    return `made ${DEMO_DISK} from examples/rootfs with mkfs.ext2 -d`;
  }
  const { makeImage } = await import("@pvkit/hypervisor/cli/mkfs");
  await makeImage({ image: DEMO_DISK, sizeMiB: SIZE_MIB, from: ROOTFS, label: "pvkit-root" });
  return `made ${DEMO_DISK} from examples/rootfs with pvkit mkfs (no e2fsprogs here)`;
}
