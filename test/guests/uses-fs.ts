/** A guest program that reaches for the host's file system: fine in dom0, refused in a domU. */
import { readFileSync } from "node:fs";
import type { KernelHandle } from "@pvkit/guest-kernel/kernel/program";

export default async function main(k: KernelHandle): Promise<void> {
  k.print(`uses-fs: read ${readFileSync("/etc/hostname", "utf8").length >= 0 ? "ok" : "?"}`);
}
