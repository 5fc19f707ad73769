/**
 * Python, for hostile cells that need what Node cannot do from a script (sendmsg with file
 * descriptors, shutdown of an inherited socket): CI installs python3; elsewhere a test that needs it
 * is skipped with the reason, and under CI=true its absence is an error rather than a skip.
 */
import { spawnSync } from "node:child_process";

/** Why no python3 runs here, or undefined when it does; `who` names the tests that would skip. */
export function pythonMissing(who: string): string | undefined {
  const ok = spawnSync("python3", ["-c", "import socket; socket.socket.sendmsg"]).status === 0;
  const why = ok ? undefined : "python3 is not installed (apt-get install python3)";
  if (why && process.env.CI) throw new Error(`under CI: ${why}`);
  if (why) console.warn(`${who}: skipping: ${why}`);
  return why;
}
