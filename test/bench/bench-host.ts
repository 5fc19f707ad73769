/**
 * A real host for the benchmarks that run guests on a bridge (`pvkit up`'s startHost in this
 * process, its cells as child processes): create domains from a config text, write to their
 * xenstore, and follow the JSON lines a guest prints on its console — the way a bench guest
 * reports (`{"phase":…}`), since a guest has no other channel back to the host that costs nothing.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ControlClient } from "@pvkit/hypervisor/cli/client";
import { startHost } from "@pvkit/hypervisor/cli/host";

export interface BenchHost {
  /** Creates a domain from `config` (an xl-style cfg text); its domid. */
  create(name: string, config: string): Promise<number>;
  xenstoreWrite(path: string, value: string): Promise<void>;
  /** Any control request (`{ op: "network-list" }`, ...), as the CLI makes it; its answer. */
  request<T>(req: Record<string, unknown>): Promise<T>;
  /** Calls `onLine` with every JSON object domain `name` prints, in order; close() stops. */
  follow(name: string, onLine: (o: Record<string, unknown>) => void): Promise<{ close(): void }>;
  /** Resolves once the warm pool (if any) is full. */
  poolReady(): Promise<void>;
  close(): Promise<void>;
}

/**
 * @param pool pooled workers (0: none), prepared for domains of `poolMemoryMiB`
 */
export async function startBenchHost(
  prefix: string,
  cells = true,
  pool = 0,
  poolMemoryMiB?: number,
): Promise<BenchHost> {
  const dir = mkdtempSync(join(tmpdir(), `pvkit-bench-${prefix}-`));
  let host;
  try {
    host = await startHost({
      socket: join(dir, "control.sock"),
      log: () => {},
      pool,
      hypervisor: { tscResolutionNs: 0, cells, ...(poolMemoryMiB ? { poolMemoryMiB } : {}) },
    });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const socket = host.socket;
  const control = async <T>(req: Record<string, unknown>): Promise<T> => {
    const c = await ControlClient.open(socket);
    try {
      return await c.request<T>(req as never);
    } finally {
      c.close();
    }
  };
  return {
    async create(name, config) {
      const file = join(dir, `${name}.cfg`);
      return (await control<{ domid: number }>({ op: "create", config, file })).domid;
    },
    async xenstoreWrite(path, value) {
      await control({ op: "xenstore-write", path, value });
    },
    request: control,
    poolReady: async () => {
      await host.hv.pool?.whenReady();
    },
    async follow(name, onLine) {
      const c = await ControlClient.open(socket);
      await c.request({ op: "console", domain: name } as never);
      let buf = "";
      c.rawMode((b) => {
        buf += b.toString();
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const at = line.indexOf("{");
          if (at < 0) continue;
          let o: Record<string, unknown>;
          try {
            o = JSON.parse(line.slice(at)) as Record<string, unknown>;
          } catch {
            continue; // not one of ours
          }
          onLine(o);
        }
      });
      return c;
    },
    async close() {
      await host.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
