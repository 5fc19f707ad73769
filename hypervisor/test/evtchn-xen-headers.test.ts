// Every number in evtchn/consts.ts and gnttab/consts.ts against Xen's public headers (libxen-dev):
// a C program prints each constant under the same name (errno as XEN_<name>, layout offsets via
// offsetof), and the values must match. Needs gcc and /usr/include/xen: skipped without them,
// failed without them under CI.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as ev from "../src/evtchn/consts.ts";
import * as gt from "../src/gnttab/consts.ts";

const ERRNO = new Set([
  "EPERM",
  "ENOENT",
  "ESRCH",
  "ENOMEM",
  "EFAULT",
  "EEXIST",
  "EINVAL",
  "ENOSPC",
  "ENOSYS",
]);
/** Constants that are layout facts rather than macros: their C expression. */
const EXPR: Record<string, string> = {
  SHINFO_EVTCHN_PENDING: "offsetof(struct shared_info, evtchn_pending)",
  SHINFO_EVTCHN_MASK: "offsetof(struct shared_info, evtchn_mask)",
  VCPU_INFO_SIZE: "sizeof(struct vcpu_info)",
  VCPU_INFO_UPCALL_PENDING: "offsetof(struct vcpu_info, evtchn_upcall_pending)",
  VCPU_INFO_UPCALL_MASK: "offsetof(struct vcpu_info, evtchn_upcall_mask)",
  VCPU_INFO_PENDING_SEL: "offsetof(struct vcpu_info, evtchn_pending_sel)",
  EVTCHN_WORD_BITS: "sizeof(xen_ulong_t) * 8",
  PAGE_SIZE: "XEN_PAGE_SIZE",
  GRANT_ENTRY_V1_SIZE: "sizeof(struct grant_entry_v1)",
  ENTRIES_PER_FRAME: "XEN_PAGE_SIZE / sizeof(struct grant_entry_v1)",
};

const haveTools = existsSync("/usr/include/xen/grant_table.h") && existsSync("/usr/bin/gcc");

function numbers(mod: Record<string, unknown>): [string, number][] {
  return Object.entries(mod).filter((e): e is [string, number] => typeof e[1] === "number");
}

/** Compiles and runs a program printing NAME=value for each constant; returns the map. */
function fromHeaders(names: string[]): Map<string, number> {
  const dir = mkdtempSync(join(tmpdir(), "pvkit-xenh-"));
  try {
    const lines = names.map((n) => {
      const expr = EXPR[n] ?? (ERRNO.has(n) ? `XEN_${n}` : n);
      return `  printf("%s=%lld\\n", "${n}", (long long)(${expr}));`;
    });
    const src = [
      "#include <stdio.h>",
      "#include <stddef.h>",
      "#include <stdint.h>",
      "#include <xen/xen.h>",
      "#include <xen/errno.h>",
      "#include <xen/event_channel.h>",
      "#include <xen/grant_table.h>",
      "#ifndef XEN_PAGE_SIZE",
      "#define XEN_PAGE_SIZE 4096",
      "#endif",
      "int main(void) {",
      ...lines,
      "  return 0;",
      "}",
    ].join("\n");
    writeFileSync(join(dir, "c.c"), src);
    execFileSync("gcc", ["-Wall", "-Werror", "-o", join(dir, "c"), join(dir, "c.c")], { stdio: "pipe" });
    const out = execFileSync(join(dir, "c"), { encoding: "utf8" });
    return new Map(
      out
        .trim()
        .split("\n")
        .map((l) => [l.split("=")[0], Number(l.split("=")[1])] as const),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("constants match /usr/include/xen", () => {
  if (!haveTools && process.env.CI) {
    it("needs gcc and libxen-dev", () => {
      expect.fail("gcc or /usr/include/xen missing (install gcc and libxen-dev)");
    });
    return;
  }
  it.skipIf(!haveTools)("event channels and grant tables", () => {
    // XEN_LEGACY_MAX_VCPUS only exists as a number in shared_info's array size.
    const ours = [...numbers(ev), ...numbers(gt)].filter(([n]) => n !== "XEN_LEGACY_MAX_VCPUS");
    const xen = fromHeaders([...new Set(ours.map(([n]) => n))]);
    for (const [name, value] of ours) expect(xen.get(name), name).toBe(value);
    const vcpus = fromHeaders(["XEN_LEGACY_MAX_VCPUS"]).get("XEN_LEGACY_MAX_VCPUS");
    expect(vcpus).toBe(ev.XEN_LEGACY_MAX_VCPUS);
  });
});
