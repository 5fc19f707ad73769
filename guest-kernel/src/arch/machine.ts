/**
 * The machine this domain runs on (PvkitMachine): the only way the arch layer reaches the hardware.
 * The worker's supervisor defines it as a global before any kernel code runs — in a domU's realm as
 * an endowment, in dom0 on the worker's own global object.
 */
import { MACHINE_GLOBAL, type PvkitMachine } from "@pvkit/abi/machine";

export function currentMachine(): PvkitMachine {
  const m = (globalThis as Record<string, unknown>)[MACHINE_GLOBAL] as PvkitMachine | undefined;
  if (!m) throw new Error("no pvkit machine: this code runs only inside a pvkit domain");
  return m;
}
