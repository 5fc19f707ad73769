/**
 * `pvkit list -l`: as `xl list -l`, every domain's whole record as one JSON array: the xl.cfg it was
 * created with, as the toolstack parsed it (`config`; null for dom0), and what it is now (`runtime`).
 * Domains named on the command line (by name or id) narrow it, in the order given.
 */
import type { DomainRecord } from "@pvkit/abi/toolstack-protocol";
import { CliError, type ControlClient } from "./client.ts";

export async function printLongList(c: ControlClient, names: string[]): Promise<void> {
  const all = await c.request<DomainRecord[]>({ op: "list-long" });
  const chosen = names.map((n) => {
    const d = all.find((x) => x.runtime.name === n || String(x.domid) === n);
    if (!d) throw new CliError(`pvkit: list ${n}: no such domain`);
    return d;
  });
  process.stdout.write(JSON.stringify(names.length === 0 ? all : chosen, null, 2) + "\n");
}
