/**
 * Xen's own xenstore clients, run against pvkit's xenstored over its unix sockets: Debian's
 * xenstore-utils (xenstore-read, -write, -chmod, -watch, -control ...) and a small program on
 * libxenstore (xs-client.c, built here with gcc). libxenstore connects to $XENSTORED_PATH when it
 * names a socket, so nothing else is needed. Under CI every one of them must be present.
 */
import { execFile, execFileSync, spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

const TOOLS = ["read", "write", "ls", "rm", "chmod", "watch"];

/**
 * xenstore-control is in Debian's xen-utils-4.17, which would also install the whole Xen toolstack
 * and its services; `.ci/run` unpacks the package into /opt/xen-utils-4.17 instead.
 */
const xenUtil = (name: string) =>
  [`/usr/lib/xen-4.17/bin/${name}`, `/opt/xen-utils-4.17/usr/lib/xen-4.17/bin/${name}`].find((p) =>
    existsSync(p),
  );
const CONTROL = xenUtil("xenstore-control");
/** Xen's own xenstore test program (tools/tests/xenstore), from the same package. */
export const TEST_XENSTORE = xenUtil("test-xenstore");

/** Why the Xen clients cannot run here, or undefined when they can (CI requires that they can). */
export function xenClientsMissing(): string | undefined {
  const missing = TOOLS.map((t) => `/usr/bin/xenstore-${t}`).filter((t) => !existsSync(t));
  if (!CONTROL || !TEST_XENSTORE)
    missing.push("xenstore-control, test-xenstore (xen-utils-4.17, unpacked by .ci/run)");
  if (!existsSync("/usr/include/xenstore.h")) missing.push("/usr/include/xenstore.h (libxen-dev)");
  if (!existsSync("/usr/bin/gcc")) missing.push("/usr/bin/gcc");
  const why = missing.length > 0 ? `not installed: ${missing.join(", ")}` : undefined;
  if (why && process.env.CI) throw new Error(`Xen's xenstore clients missing under CI: ${why}`);
  return why;
}

/** Builds xs-client.c against libxenstore into `dir`; returns the binary's path. */
export function buildXsClient(dir: string): string {
  const out = join(dir, "xs-client");
  const src = new URL("./xs-client.c", import.meta.url).pathname;
  execFileSync("gcc", ["-O1", "-o", out, src, "-lxenstore"], { stdio: "pipe" });
  return out;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `xenstore-<name>` against `socket`. */
export function xenstoreTool(socket: string, name: string, ...args: string[]): Promise<Run> {
  return runFile(name === "control" ? CONTROL! : `/usr/bin/xenstore-${name}`, args, socket);
}

/**
 * Runs a program with XENSTORED_PATH=`socket`; resolves with its exit code and output. `guardMs`
 * only stops a hung client (it then fails with code -1).
 */
export function runFile(file: string, args: string[], socket: string, guardMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { XENSTORED_PATH: socket }, timeout: guardMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A program whose output is read a line at a time, each awaited (no wall-clock deadline). */
export class LineProcess {
  readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: string[] = [];
  private buf = "";
  private waiter?: () => void;
  private exited = false;

  constructor(file: string, args: string[], socket: string) {
    this.child = spawn(file, args, { env: { XENSTORED_PATH: socket } });
    this.child.stdout.on("data", (b: Buffer) => {
      this.buf += b.toString();
      const parts = this.buf.split("\n");
      this.buf = parts.pop()!;
      this.lines.push(...parts);
      this.waiter?.();
    });
    this.child.on("exit", () => {
      this.exited = true;
      this.waiter?.();
    });
  }

  /** The next line it prints; fails if it exits first. */
  async line(): Promise<string> {
    while (this.lines.length === 0) {
      if (this.exited) throw new Error("the client exited");
      await new Promise<void>((r) => (this.waiter = r));
    }
    return this.lines.shift()!;
  }

  /** Lets a client blocked in "wait" go on. */
  go(): void {
    this.child.stdin.write("\n");
  }

  kill(): void {
    this.child.kill();
  }
}

/** errno numbers (Linux) as libxenstore reports them. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EEXIST: 17,
  EINVAL: 22,
  ENOSPC: 28,
  ENOSYS: 38,
  E2BIG: 7,
} as const;

/** What xs-client prints for a failed call. */
export const err = (name: keyof typeof ERRNO) => `ERR ${ERRNO[name]}`;
