/**
 * `pvkit capture ...` as a separate process, the way a user runs it from a terminal: `started`
 * resolves once it says it is capturing, `interrupt()` sends the Ctrl-C a terminal would (to its
 * process group, so tsx's launcher and the CLI it runs both get it), `exited` gives its status and
 * output.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { REPO } from "./stage.ts";

export function captureCli(socket: string, args: string[]) {
  const cli = [join(REPO, "node_modules/tsx/dist/cli.mjs"), join(REPO, "hypervisor/src/cli/main.ts")];
  const child = spawn(process.execPath, [...cli, "--socket", socket, "capture", ...args], { detached: true });
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
