/**
 * The guest kernel's layout facts (guest-kernel/src/kernel/xen.ts and the xs_wire numbers)
 * checked against Xen's public headers: a C program prints offsetof/sizeof/constant values and
 * the test compares them. Needs gcc and libxen-dev; skips without them, fails under CI.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as X from "../../guest-kernel/src/kernel/xen.ts";
import { XS, XSD_ERRORS, XENSTORE_PAYLOAD_MAX } from "../../guest-kernel/src/xenbus/wire.ts";
import { XenbusState } from "../../guest-kernel/src/xenbus/state.ts";

const HEADERS = "/usr/include/xen/xen.h";
const haveGcc = (() => {
  try {
    execFileSync("gcc", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
const ready = haveGcc && existsSync(HEADERS);
if (!ready && process.env.CI)
  throw new Error("layout conformance needs gcc and libxen-dev (/usr/include/xen)");

const C = `
#include <stdio.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#include <xen/xen.h>
#include <xen/sched.h>
#include <xen/grant_table.h>
#include <xen/io/console.h>
#include <xen/io/xs_wire.h>
#include <xen/io/xenbus.h>
#define P(name, v) printf("%s %ld\\n", name, (long)(v))
int main(void) {
  P("vcpu_info.size", sizeof(struct vcpu_info));
  P("vcpu_info.upcallPending", offsetof(struct vcpu_info, evtchn_upcall_pending));
  P("vcpu_info.upcallMask", offsetof(struct vcpu_info, evtchn_upcall_mask));
  P("vcpu_info.pendingSel", offsetof(struct vcpu_info, evtchn_pending_sel));
  P("vcpu_info.time", offsetof(struct vcpu_info, time));
  P("time.version", offsetof(struct vcpu_time_info, version));
  P("time.tscTimestamp", offsetof(struct vcpu_time_info, tsc_timestamp));
  P("time.systemTime", offsetof(struct vcpu_time_info, system_time));
  P("time.tscToSystemMul", offsetof(struct vcpu_time_info, tsc_to_system_mul));
  P("time.tscShift", offsetof(struct vcpu_time_info, tsc_shift));
  P("time.flags", offsetof(struct vcpu_time_info, flags));
  P("shared.evtchnPending", offsetof(struct shared_info, evtchn_pending));
  P("shared.evtchnMask", offsetof(struct shared_info, evtchn_mask));
  P("shared.wcVersion", offsetof(struct shared_info, wc_version));
  P("shared.wcSec", offsetof(struct shared_info, wc_sec));
  P("shared.wcNsec", offsetof(struct shared_info, wc_nsec));
  P("shared.wcSecHi", offsetof(struct shared_info, wc_sec_hi));
  P("cons.in", offsetof(struct xencons_interface, in));
  P("cons.out", offsetof(struct xencons_interface, out));
  P("cons.inCons", offsetof(struct xencons_interface, in_cons));
  P("cons.inProd", offsetof(struct xencons_interface, in_prod));
  P("cons.outCons", offsetof(struct xencons_interface, out_cons));
  P("cons.outProd", offsetof(struct xencons_interface, out_prod));
  P("xs.req", offsetof(struct xenstore_domain_interface, req));
  P("xs.rsp", offsetof(struct xenstore_domain_interface, rsp));
  P("xs.reqCons", offsetof(struct xenstore_domain_interface, req_cons));
  P("xs.reqProd", offsetof(struct xenstore_domain_interface, req_prod));
  P("xs.rspCons", offsetof(struct xenstore_domain_interface, rsp_cons));
  P("xs.rspProd", offsetof(struct xenstore_domain_interface, rsp_prod));
  P("xs.serverFeatures", offsetof(struct xenstore_domain_interface, server_features));
  P("xs.connection", offsetof(struct xenstore_domain_interface, connection));
  P("xs.error", offsetof(struct xenstore_domain_interface, error));
  P("XENSTORE_RING_SIZE", XENSTORE_RING_SIZE);
  P("XENSTORE_PAYLOAD_MAX", XENSTORE_PAYLOAD_MAX);
  P("xsd_sockmsg", sizeof(struct xsd_sockmsg));
  P("XS_DIRECTORY", XS_DIRECTORY); P("XS_READ", XS_READ); P("XS_WATCH", XS_WATCH);
  P("XS_UNWATCH", XS_UNWATCH); P("XS_TRANSACTION_START", XS_TRANSACTION_START);
  P("XS_TRANSACTION_END", XS_TRANSACTION_END); P("XS_GET_DOMAIN_PATH", XS_GET_DOMAIN_PATH);
  P("XS_WRITE", XS_WRITE); P("XS_MKDIR", XS_MKDIR); P("XS_RM", XS_RM);
  P("XS_WATCH_EVENT", XS_WATCH_EVENT); P("XS_ERROR", XS_ERROR);
  P("XS_RESET_WATCHES", XS_RESET_WATCHES); P("XS_DIRECTORY_PART", XS_DIRECTORY_PART);
  for (unsigned i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
    printf("errno.%s %d\\n", xsd_errors[i].errstring, xsd_errors[i].errnum);
  P("DOMID_SELF", DOMID_SELF); P("VIRQ_TIMER", VIRQ_TIMER);
  P("SIF_PRIVILEGED", SIF_PRIVILEGED); P("SIF_INITDOMAIN", SIF_INITDOMAIN);
  P("SHUTDOWN_poweroff", SHUTDOWN_poweroff); P("SHUTDOWN_reboot", SHUTDOWN_reboot);
  P("SHUTDOWN_suspend", SHUTDOWN_suspend); P("SHUTDOWN_crash", SHUTDOWN_crash);
  P("GTF_permit_access", GTF_permit_access); P("GTF_readonly", GTF_readonly);
  P("GTF_reading", GTF_reading); P("GTF_writing", GTF_writing);
  P("grant_entry_v1", sizeof(struct grant_entry_v1));
  P("XenbusStateConnected", XenbusStateConnected); P("XenbusStateReconfigured", XenbusStateReconfigured);
  return 0;
}
`;

describe.skipIf(!ready)("guest kernel layouts match Xen's headers", () => {
  it("offsets, sizes and constants", () => {
    const dir = mkdtempSync(join(tmpdir(), "pvkit-gk-layout-"));
    try {
      writeFileSync(join(dir, "l.c"), C);
      execFileSync("gcc", ["-Wall", "-Werror", "-o", join(dir, "l"), join(dir, "l.c")], { stdio: "pipe" });
      const out = execFileSync(join(dir, "l"), { encoding: "utf8" });
      const c = new Map(
        out
          .trim()
          .split("\n")
          .map((l) => [l.split(" ")[0], Number(l.split(" ")[1])] as const),
      );
      const ours: Record<string, number> = {
        "vcpu_info.size": X.VCPU_INFO.size,
        "vcpu_info.upcallPending": X.VCPU_INFO.upcallPending,
        "vcpu_info.upcallMask": X.VCPU_INFO.upcallMask,
        "vcpu_info.pendingSel": X.VCPU_INFO.pendingSel,
        "vcpu_info.time": X.VCPU_INFO.time,
        ...Object.fromEntries(Object.entries(X.VCPU_TIME).map(([k, v]) => [`time.${k}`, v])),
        "shared.evtchnPending": X.SHARED_INFO.evtchnPending,
        "shared.evtchnMask": X.SHARED_INFO.evtchnMask,
        "shared.wcVersion": X.SHARED_INFO.wcVersion,
        "shared.wcSec": X.SHARED_INFO.wcSec,
        "shared.wcNsec": X.SHARED_INFO.wcNsec,
        "shared.wcSecHi": X.SHARED_INFO.wcSecHi,
        "cons.in": X.XENCONS.in,
        "cons.out": X.XENCONS.out,
        "cons.inCons": X.XENCONS.inCons,
        "cons.inProd": X.XENCONS.inProd,
        "cons.outCons": X.XENCONS.outCons,
        "cons.outProd": X.XENCONS.outProd,
        ...Object.fromEntries(
          Object.entries(X.XENSTORE_RING)
            .filter(([k]) => k !== "size")
            .map(([k, v]) => [`xs.${k}`, v]),
        ),
        XENSTORE_RING_SIZE: X.XENSTORE_RING.size,
        XENSTORE_PAYLOAD_MAX,
        xsd_sockmsg: 16,
        ...Object.fromEntries(
          [
            "DIRECTORY",
            "READ",
            "WATCH",
            "UNWATCH",
            "TRANSACTION_START",
            "TRANSACTION_END",
            "GET_DOMAIN_PATH",
            "WRITE",
            "MKDIR",
            "RM",
            "WATCH_EVENT",
            "ERROR",
            "RESET_WATCHES",
            "DIRECTORY_PART",
          ].map((n) => [`XS_${n}`, XS[n as keyof typeof XS]]),
        ),
        ...Object.fromEntries(Object.entries(XSD_ERRORS).map(([k, v]) => [`errno.${k}`, v])),
        DOMID_SELF: X.DOMID_SELF,
        VIRQ_TIMER: X.VIRQ_TIMER,
        SIF_PRIVILEGED: X.SIF_PRIVILEGED,
        SIF_INITDOMAIN: X.SIF_INITDOMAIN,
        SHUTDOWN_poweroff: X.SHUTDOWN_poweroff,
        SHUTDOWN_reboot: X.SHUTDOWN_reboot,
        SHUTDOWN_suspend: X.SHUTDOWN_suspend,
        SHUTDOWN_crash: X.SHUTDOWN_crash,
        GTF_permit_access: X.GTF_permit_access,
        GTF_readonly: X.GTF_readonly,
        GTF_reading: X.GTF_reading,
        GTF_writing: X.GTF_writing,
        grant_entry_v1: X.GRANT_ENTRY_V1_SIZE,
        XenbusStateConnected: XenbusState.Connected,
        XenbusStateReconfigured: XenbusState.Reconfigured,
      };
      for (const [name, value] of Object.entries(ours))
        expect({ name, value }).toEqual({ name, value: c.get(name) });
      // Every errno xs_wire.h lists is one we can decode.
      for (const key of c.keys()) if (key.startsWith("errno.")) expect(ours[key], key).toBeDefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
