/**
 * The whole pvkit ABI: its version and every definition, in the order the reference documents them.
 * Add a definition file to abi/src/defs and list its exports here; then run `pnpm codegen`.
 */
import type { AbiDef, Definition } from "./schema.ts";
import * as eventChannel from "./defs/event_channel.ts";

const all = (mod: Record<string, unknown>): Definition[] => Object.values(mod) as Definition[];

export const abi: AbiDef = {
  version: { major: 1, minor: 0 },
  xenInterfaceVersion: 0x00040e00,
  privateHypercallBase: 64,
  definitions: [...all(eventChannel)],
};
