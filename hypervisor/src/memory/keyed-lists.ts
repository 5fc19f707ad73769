/**
 * Lists of records by a number key — the frames an owner uses, the frames a holder holds — in which
 * a record is added, found and taken out in O(1) without hashing it: each record remembers its own
 * place in each list it is in (`place`), and a record taken out has the list's last one moved into
 * its place. A list is in no order.
 *
 * Why not a Set: a domain's build and its hand-over put every one of its frames in such a list, and
 * its death takes them all out again — 16384 frames for a 64 MiB domain. A Set of objects hashes
 * each on its first insertion (V8 stores the hash in the object, growing it) and rehashes as it
 * grows; on this machine that was ~0.15 µs a frame per list, most of a 64 MiB create's 20 ms in the
 * hypervisor (docs/hypervisor.md, "Where a create's time goes").
 */
export interface Places<T> {
  /** Where `x` is in `key`'s list, or -1. */
  get(x: T, key: number): number;
  /** Records that `x` is at `at` in `key`'s list (-1: in none). */
  set(x: T, key: number, at: number): void;
}

export class KeyedLists<T> {
  private readonly lists = new Map<number, T[]>();

  constructor(private readonly place: Places<T>) {}

  /** How many records `key`'s list holds. */
  size(key: number): number {
    return this.lists.get(key)?.length ?? 0;
  }

  /** The last record of `key`'s list, if any. */
  last(key: number): T | undefined {
    return this.lists.get(key)?.at(-1);
  }

  /** Adds `x` to `key`'s list; one already there stays once. */
  add(key: number, x: T): void {
    let list = this.lists.get(key);
    if (!list) this.lists.set(key, (list = []));
    else if (this.has(list, key, x)) return;
    this.place.set(x, key, list.length);
    list.push(x);
  }

  /** Takes `x` out of `key`'s list; false if it was not there. */
  remove(key: number, x: T): boolean {
    const list = this.lists.get(key);
    if (!list || !this.has(list, key, x)) return false;
    const at = this.place.get(x, key);
    const last = list.pop()!;
    if (last !== x) {
      list[at] = last;
      this.place.set(last, key, at);
    }
    this.place.set(x, key, -1);
    return true;
  }

  /** Ends `key`'s list and returns what it held, each record's place in it forgotten. */
  take(key: number): T[] {
    const list = this.lists.get(key) ?? [];
    this.lists.delete(key);
    for (const x of list) this.place.set(x, key, -1);
    return list;
  }

  private has(list: T[], key: number, x: T): boolean {
    const at = this.place.get(x, key);
    return at >= 0 && list[at] === x;
  }
}
