/**
 * One host per run directory. `pvkit up` takes a pid file beside its sockets before it boots
 * anything; a second `pvkit up` on the same directory is refused with one line instead of silently
 * taking the first host's sockets. A pid file whose process is gone (a host that was killed) is
 * stale and taken over.
 */
import { openSync, readFileSync, unlinkSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { CliError } from "./client.ts";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export interface HostLock {
  release(): void;
}

/** Takes `dir`'s host lock, or throws a CliError naming the host that has it. */
export function lockRunDir(dir: string): HostLock {
  const file = join(dir, "host.pid");
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(file, "wx", 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw e;
      const pid = Number.parseInt(readFileSync(file, "utf8"), 10);
      if (Number.isInteger(pid) && alive(pid))
        throw new CliError(
          `pvkit: a host is already running in ${dir} (pid ${pid}); stop it first, or give this one another --socket`,
        );
      unlinkSync(file); // stale: its host is gone
    }
  }
  return {
    release() {
      try {
        if (readFileSync(file, "utf8").trim() === String(process.pid)) unlinkSync(file);
      } catch {
        /* already gone */
      }
    },
  };
}
