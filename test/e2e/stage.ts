/**
 * The stage of the end-to-end tests: a real host (`pvkit up`'s startHost) in a temporary run
 * directory, removed afterwards, and the user's tools against it — the `pvkit` CLI as a process,
 * xl.cfg files, and a console that waits for what the guest prints.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { startHost, type Host } from "@pvkit/hypervisor/cli/host";
import { ControlClient } from "@pvkit/hypervisor/cli/client";

export const REPO = resolve(import.meta.dirname, "../..");

/** How long a wait on a guest may take before it counts as a hang (console(), phase()). */
export interface HangGuard {
  timeoutMs?: number;
}

export interface Run {
  code: number;
  out: string;
  err: string;
}

/** Boots a host for the calling test file (and shuts it down after); returns the tools. */
export function e2eStage(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let host: Host | undefined;
  beforeAll(async () => {
    host = await startHost({ socket: join(dir, "control.sock"), log: () => {} });
  }, 60_000);
  afterAll(async () => {
    await host?.close();
    rmSync(dir, { recursive: true, force: true }); // no pvkit-* folders left behind
  });
  const up = (): Host => {
    if (!host) throw new Error("the e2e host is not up");
    return host;
  };
  return {
    dir,
    get host(): Host {
      return up();
    },

    /** One request on the control socket, as the CLI makes it (`{ op: "list" }`, ...). */
    async control<T>(req: Record<string, unknown>): Promise<T> {
      const c = await ControlClient.open(up().socket);
      try {
        return await c.request<T>(req as never);
      } finally {
        c.close();
      }
    },

    /**
     * The JSON object a guest printed on a line of its console with `"phase":"<p>"` (how the
     * hostile and device tests' guests report what they saw), once it shows up. The wait is
     * console()'s: `guard` lengthens it for a report that comes after long work (a transfer on a
     * loaded machine).
     */
    async phase<T = Record<string, unknown>>(name: string, p: string, guard?: HangGuard): Promise<T> {
      const out = await this.console(name, "", new RegExp(`"phase":"${p}"[^\\n]*\\n`), guard);
      const line = out.split(/\r?\n/).find((l) => l.includes(`"phase":"${p}"`))!;
      return JSON.parse(line.slice(line.indexOf("{"))) as T;
    },

    /** Runs `pvkit ...args` against the host, with `input` on its stdin (in `cwd`, if given). */
    pvkit(args: string[], input = "", cwd?: string): Promise<Run> {
      return new Promise((done) => {
        const cli = [join(REPO, "node_modules/tsx/dist/cli.mjs"), join(REPO, "hypervisor/src/cli/main.ts")];
        const child = execFile(
          process.execPath,
          [...cli, "--socket", up().socket, ...args],
          { timeout: 60_000, cwd },
          (e, out, err) => done({ code: e ? Number((e as { code?: number }).code ?? -1) : 0, out, err }),
        );
        child.stdin?.end(input);
      });
    },

    /** An xl.cfg file for a 16 MiB guest running `kernel` (the example shell by default). */
    cfg(name: string, kernel = join(REPO, "examples/guests/shell.ts")): string {
      const file = join(dir, `${name}.cfg`);
      writeFileSync(file, `name = "${name}"\nkernel = "${kernel}"\nmemory = 16\n`);
      return file;
    },

    /**
     * Attaches to a console, types `input`, and collects output until `until` shows up (what the
     * guest printed before the attach is replayed first). Gives up after `guard.timeoutMs`, 30 s
     * unless told: a hang guard, not a deadline the guest is expected to meet.
     */
    async console(domain: string, input: string, until: RegExp, guard?: HangGuard): Promise<string> {
      const timeoutMs = guard?.timeoutMs ?? 30_000;
      const c = await ControlClient.open(up().socket);
      await c.request({ op: "console", domain });
      let out = "";
      const seen = new Promise<void>((res, rej) => {
        const t = setTimeout(
          () =>
            rej(
              new Error(
                `console of ${domain} never showed ${until} in ${timeoutMs / 1000} s; got ${JSON.stringify(out)}`,
              ),
            ),
          timeoutMs,
        );
        c.rawMode((b) => {
          out += b.toString();
          if (until.test(out)) (clearTimeout(t), res());
        });
      });
      c.socket.write(input);
      await seen;
      c.close();
      return out;
    },
  };
}
