/**
 * A cell's bell is one of the three inputs the hypervisor takes from a cell process (its IPC, its
 * standard error, its bell), and a worker that escaped its realm holds the cell's end (fd 5): it
 * can write without end, close it, send file descriptors over it, or leave bytes queued in it and
 * die. None of that may cost the hypervisor more than one callback per turn of its event loop, more
 * CPU than the cell spends on it, a stall, or a domain whose end is never heard. Each cell here is a real
 * process holding the real other end (native/bell.cc, cell/host-bell.ts); the ones that pass file
 * descriptors are Python, which has sendmsg (CI installs python3).
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { release } from "node:os";
import { performance } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import { HostBell } from "../../hypervisor/src/cell/host-bell.ts";
import { until } from "./harness.ts";
import { pythonMissing } from "./python.ts";

const python = pythonMissing("test/hostile/bell.test.ts, the cells played in Python");

/** User + system CPU time of a process so far, ms (/proc/<pid>/stat counts 10 ms ticks). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** A process holding the cell's end as fd 3 (a cell has it as fd 5): `node -e` or `python3 -c`. */
function cell(bell: HostBell, program: "node" | "python3", script: string) {
  const child = spawn(
    program === "node" ? process.execPath : "python3",
    [program === "node" ? "-e" : "-c", script],
    {
      stdio: ["pipe", "pipe", "pipe", bell.forCell], // as a cell's: its standard error a pipe
    },
  );
  bell.spawned();
  child.stderr!.resume();
  return { child, exited: new Promise((r) => child.once("exit", r)) };
}

describe("a cell's bell, played by a hostile cell", () => {
  it.skipIf(python !== undefined)(
    "flooded: one ring per turn, the host's timers run, and reading costs no more than writing",
    async () => {
      let rings = 0;
      const bell = new HostBell(() => rings++);
      // Writes 208 KiB at a time, blocking while the socket is full: a flood that costs its
      // writer as little as it can.
      const flood = cell(
        bell,
        "python3",
        `import socket
s = socket.socket(fileno=3); s.setblocking(True)
b = b'x' * (208 * 1024)
while True: s.send(b)`,
      );
      await until(() => rings > 0, "the flood's first ring");
      const cell0 = cpuMs(flood.child.pid!);
      const host0 = process.cpuUsage();
      const rings0 = rings;
      let turns = 0;
      let counting = true;
      (function count() {
        turns++;
        if (counting) setImmediate(count);
      })();
      // A thousand timers in a row fire while it floods (each waits for a turn of the loop).
      for (let timers = 0; timers < 1000; timers++) await new Promise((r) => setTimeout(r, 1));
      counting = false;
      const host = process.cpuUsage(host0);
      const cellMs = cpuMs(flood.child.pid!) - cell0;
      const ringsDuring = rings - rings0;
      flood.child.kill("SIGKILL");
      await flood.exited;
      const hostMs = (host.user + host.system) / 1000;
      expect(ringsDuring).toBeGreaterThan(1);
      expect(ringsDuring).toBeLessThanOrEqual(turns + 1);
      // Reading costs about what writing does: with a 256-byte read buffer the host spent 10-20
      // times the cell's CPU.
      expect(hostMs).toBeLessThan(2 * cellMs + 100);
      bell.close();
    },
    30_000,
  );

  it("closed: costs nothing after, no ring and no spinning loop", async () => {
    let rings = 0;
    const bell = new HostBell(() => rings++);
    const gone = cell(bell, "node", `require("node:fs").writeSync(3, Buffer.from([1])); process.exit(0);`);
    await gone.exited;
    await until(() => rings === 1, "the dead cell's ring");
    // A socket whose peer closed stays readable; a watch that kept polling it would spin this
    // loop. Idle for a while, the loop must be mostly idle.
    const before = performance.eventLoopUtilization();
    await new Promise((r) => setTimeout(r, 300));
    expect(performance.eventLoopUtilization(before).utilization).toBeLessThan(0.5);
    expect(rings).toBe(1);
    bell.ring(); // EPIPE: its exit says it is gone
    bell.close();
  });

  it.skipIf(python !== undefined)(
    "dead with our bytes unread and its own queued (a descriptor too, where the kernel lets it): its end is heard",
    async () => {
      // The host rings (bytes the cell never reads), the cell sends a byte (with its stderr's fd,
      // where the kernel lets it), then dies: the host's end sees a reset, not an end of file.
      // Reading nothing then left the fd queued and the cell's stderr open, so the child's "close"
      // never came.
      let rings = 0;
      const bell = new HostBell(() => rings++);
      const c = cell(
        bell,
        "python3",
        `import socket, array, os, sys
s = socket.socket(fileno=3)
sys.stdin.read(1)
for i in range(200):
    try: s.sendmsg([b'x'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [2]))])
    except BlockingIOError: break
    except PermissionError: s.send(b'x'); break  # Linux 6.16+: the bell refuses descriptors
os._exit(0)`,
      );
      const closed = new Promise((r) => c.child.once("close", r));
      bell.ring();
      bell.ring();
      c.child.stdin!.write("x");
      // The host busy until the cell is dead (a zombie): its first look at the bell comes after
      // the reset, as when a cell times its death to a busy moment of the hypervisor's thread.
      const state = () => readFileSync(`/proc/${c.child.pid}/stat`, "utf8").split(") ")[1]![0];
      for (const end = Date.now() + 10_000; state() !== "Z" && Date.now() < end;);
      await closed; // the hang guard is the test's timeout
      expect(rings).toBeGreaterThan(0);
      bell.close();
    },
    30_000,
  );

  it.skipIf(python !== undefined)(
    "refuses the file descriptors a cell sends it, where the kernel can (Linux 6.16+)",
    async () => {
      // Reading a byte that carried a descriptor releases it on the reading thread, the host's;
      // releasing a socket that lingers blocks for as long as its sender set.
      const [major, minor] = release().split(".").map(Number) as [number, number];
      const refuses = major > 6 || (major === 6 && minor >= 16);
      const bell = new HostBell(() => {});
      const c = cell(
        bell,
        "python3",
        `import socket, array
s = socket.socket(fileno=3)
try: s.sendmsg([b'x'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [2]))]); print("sent", flush=True)
except PermissionError: print("refused", flush=True)`,
      );
      const said = await new Promise<string>((r) =>
        c.child.stdout!.once("data", (d: Buffer) => r(String(d).trim())),
      );
      await c.exited;
      expect(said).toBe(refuses ? "refused" : "sent");
      bell.close();
    },
    30_000,
  );
});
