/**
 * The whole pvkit ABI: its version and every definition, in the order the reference documents them.
 * Add a definition file to abi/src/defs and list its exports here; then run `pnpm codegen`.
 */
import type { AbiDef, Definition } from "./schema.ts";
import * as xen from "./defs/xen.ts";
import * as errno from "./defs/errno.ts";
import * as eventChannel from "./defs/event_channel.ts";
import * as sched from "./defs/sched.ts";
import * as memory from "./defs/memory.ts";
import * as setTimer from "./defs/set_timer.ts";
import * as xenVersion from "./defs/xen_version.ts";
import * as consoleIo from "./defs/console_io.ts";
import * as grantTable from "./defs/grant_table.ts";
import * as pvkitTrap from "./defs/pvkit_trap.ts";
import * as pvkitOp from "./defs/pvkit_op.ts";
import * as xsWire from "./defs/xs_wire.ts";
import * as consoleRing from "./defs/console_ring.ts";
import * as vcpu from "./defs/vcpu.ts";
import * as domctl from "./defs/domctl.ts";
import * as sysctl from "./defs/sysctl.ts";
import * as blkif from "./defs/blkif.ts";
import * as xenbus from "./defs/xenbus.ts";
import * as vmxnet from "./defs/vmxnet.ts";

const all = (mod: Record<string, unknown>): Definition[] => Object.values(mod) as Definition[];

export const abi: AbiDef = {
  version: { major: 1, minor: 0 },
  xenInterfaceVersion: 0x00040e00,
  privateHypercallBase: 64,
  definitions: [
    ...all(xen),
    ...all(errno),
    ...all(eventChannel),
    ...all(sched),
    ...all(memory),
    ...all(setTimer),
    ...all(xenVersion),
    ...all(consoleIo),
    ...all(grantTable),
    ...all(pvkitTrap),
    ...all(pvkitOp),
    ...all(xsWire),
    ...all(consoleRing),
    ...all(vcpu),
    ...all(domctl),
    ...all(sysctl),
    ...all(blkif),
    ...all(xenbus),
    ...all(vmxnet),
  ],
};
