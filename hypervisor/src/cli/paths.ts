/**
 * Where a pvkit host listens: the control socket the CLI talks to and, beside it, xenstored's socket
 * (give that one to xenstore-utils as XENSTORED_PATH). One directory per user, like Xen's /var/run.
 */
import { join } from "node:path";

export function runDir(): string {
  if (process.env.PVKIT_RUN_DIR) return process.env.PVKIT_RUN_DIR;
  if (process.env.XDG_RUNTIME_DIR) return join(process.env.XDG_RUNTIME_DIR, "pvkit");
  return join("/tmp", `pvkit-${process.getuid?.() ?? 0}`);
}

export function controlSocket(override?: string): string {
  return override ?? process.env.PVKIT_SOCKET ?? join(runDir(), "control.sock");
}

export function xenstoredSocket(control: string): string {
  return join(control, "..", "xenstored.sock");
}

/** The host's own socket for `pvkit trace`, beside the control socket (trace/trace-server.ts). */
export function traceSocket(control: string): string {
  return join(control, "..", "trace.sock");
}
