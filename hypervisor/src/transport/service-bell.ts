/**
 * The trap service's bell for the domUs of the hypervisor's own process (cells off): a socket pair
 * whose one end the service's event loop watches (native/bell.cc) and whose other end is a send
 * end, which every such domain's worker rings, by id, when it traps while the service sleeps.
 *
 * Why not Atomics.notify on the doorbell, as dom0 does: a notify reaches an Atomics.waitAsync as a
 * task V8 posts to the sleeping thread's platform queue, which Node runs from its event loop after
 * an async handle's wake-up; a byte on a watched socket is one poll event, read in C++, and one
 * call into JS. An idle null hypercall with cells off, alternated six times: 37.4 → 31.8 µs median,
 * lower in every pair (docs/hypervisor.md, "The trap").
 *
 * A domU rings only when the doorbell's asleep word says the service sleeps (realm/wakes.ts). dom0
 * keeps its notify, which asks no word: every cell maps the doorbell, and a cell's guest that
 * escaped its realm could hold that word at "awake". With cells off there are no cells, and the
 * word is out of a domU's reach: its realm has no doorbell, and a guest that escaped its realm has
 * the hypervisor's process already.
 *
 * Rule: workers ring it by id only, under the addon's lock. It is closed as the hypervisor closes,
 * once its workers have ended or are ending (a pooled worker retired without waiting, a launch that
 * outlived close()); a late ring then finds no fd behind the id (EBADF), never another file, and its
 * trap notifies instead (realm/wakes.ts).
 */
import { shm, type Shm } from "../native/shm.ts";
import { watchedBellPair } from "../cell/host-bell.ts";

export class ServiceBell {
  /** What a worker of this process rings (addon.bellSend). */
  readonly sender: number;
  private readonly watch: number;
  private readonly addon: Shm = shm();

  /** @param onRing what a ring does: wake the trap service (TrapService.ring) */
  constructor(onRing: () => void) {
    const addon = this.addon;
    if (typeof addon.bellSendEnd !== "function")
      throw new Error("pvkit: the native addon predates send ends (native/bell.cc); run `pnpm build:native`");
    const { watch, other } = watchedBellPair(addon, onRing);
    this.watch = watch;
    this.sender = addon.bellSendEnd(other);
  }

  /** Both ends go (the rule above says when). */
  close(): void {
    this.addon.bellSendClose(this.sender);
    this.addon.bellClose(this.watch);
  }
}
