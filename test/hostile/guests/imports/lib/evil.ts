/** A helper of nested.ts that spawns a host command. */
import { spawnSync } from "node:child_process";

export const run = () => String(spawnSync("id").stdout);
