/**
 * `pvkit capture ...` as a separate process, the way a user runs it from a terminal: `started`
 * resolves once it says it is capturing, `interrupt()` sends the Ctrl-C a terminal would (to its
 * process group), `exited` gives its status and output.
 *
 * The CLI runs as one node process with tsx as its loader (`node --import tsx`), not under tsx's
 * launcher: the launcher relays a Ctrl-C to its child and kills the child outright (status 130)
 * when it does not confirm the signal within 30 ms, which a loaded machine makes likely — the CLI
 * never got to stop its capture and close the file, and the test failed for the launcher's sake.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { REPO } from "./stage.ts";

export function captureCli(socket: string, args: string[]) {
  const cli = ["--import", "tsx", join(REPO, "hypervisor/src/cli/main.ts")];
  const child = spawn(process.execPath, [...cli, "--socket", socket, "capture", ...args], {
    cwd: REPO,
    detached: true,
  });
  let out = "";
  let err = "";
  const started = new Promise<void>((resolve, reject) => {
    child.stderr.on("data", (b: Buffer) => {
      err += b.toString();
      if (err.includes("capturing")) resolve();
    });
    child.once("exit", () => reject(new Error(`capture exited before starting: ${err}`)));
  });
  child.stdout.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
    child.once("exit", (code) => resolve({ code, out, err })),
  );
  const interrupt = () => {
    process.kill(-child.pid!, "SIGINT");
    return exited;
  };
  return { started, exited, interrupt };
}
