/**
 * A cell's end must always be heard: its domain is gone, and its frames free, only once the
 * hypervisor has seen the process end (cell/cell-process.ts). A worker that escaped its realm owns
 * its cell process and can leave things behind as it dies, or break its IPC channel while it lives.
 * Each cell here is a real process started the way the hypervisor starts one (spawnCell), running a
 * script of the test's instead of the cell's.
 */
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import type { MachineArena } from "../../hypervisor/src/memory/arena.ts";
import { awaited, sendTo, spawnCell, type Cell } from "../../hypervisor/src/cell/cell-process.ts";
import { pythonMissing } from "./python.ts";

// The cell's fd 4 is the machine's memory; these cells never touch it, so standard input will do.
const arena = { fd: 0 } as MachineArena;
const init = { t: "init", supervisor: "" } as const;

const python = pythonMissing("test/hostile/cell-end.test.ts, the IPC test");

describe("a cell's end, played by a hostile cell", () => {
  it("is heard when it dies leaving a process of its own that holds its standard error", async () => {
    // The grandchild lives 60 s with the cell's stderr; Node's "close" would wait for it.
    const cell = spawnCell(
      arena,
      `const { spawn } = require("node:child_process");
       const g = spawn("sleep", ["60"], { stdio: ["ignore", "ignore", "inherit"], detached: true });
       console.error("grandchild " + g.pid); g.unref(); setTimeout(() => process.exit(0), 100);`,
      () => {},
      init,
    );
    awaited(cell);
    const end = await cell.exited; // the hang guard is the test's timeout
    expect(end.code).toBe(0);
    const grandchild = Number(/grandchild (\d+)/.exec(cell.stderr)?.[1]);
    expect(grandchild).toBeGreaterThan(0);
    process.kill(grandchild, "SIGKILL"); // it is still alive: that was the point
  }, 30_000);

  it.skipIf(python !== undefined)(
    "that shuts its IPC channel's reading side: the hypervisor's sends fail quietly",
    async () => {
      // Every send then fails with EPIPE, which Node reports as an "error" event on the child
      // unless the send has a callback; two such events used to end the hypervisor (cell-host.ts
      // handled the first one only). Python, which has no IPC reader of its own to notice.
      const child = spawn(
        "python3",
        [
          "-c",
          "import socket, time; s = socket.socket(fileno=3); s.shutdown(socket.SHUT_RD); print('shut', flush=True); time.sleep(60)",
        ],
        { stdio: ["ignore", "pipe", "inherit", "ipc"] },
      );
      let errors = 0;
      child.on("error", () => errors++);
      await new Promise((r) => child.stdout!.once("data", r));
      const cell = { child } as Cell;
      for (let i = 0; i < 5; i++) {
        sendTo(cell, { t: "sample" });
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(errors).toBe(0);
      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));
    },
    30_000,
  );
});
