/**
 * A readers-writer lock for async code: any number of readers at once, or one writer alone. A waiting
 * writer stops new readers from starting, so a stream of reads cannot starve a write. Waiters are
 * served in arrival order.
 */
export class RwLock {
  private readers = 0;
  private writing = false;
  private readonly queue: { write: boolean; go: () => void }[] = [];

  async read<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire(false);
    try {
      return await fn();
    } finally {
      this.readers--;
      this.wake();
    }
  }

  async write<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire(true);
    try {
      return await fn();
    } finally {
      this.writing = false;
      this.wake();
    }
  }

  private acquire(write: boolean): Promise<void> {
    if (this.queue.length === 0 && this.canGo(write)) {
      this.take(write);
      return Promise.resolve();
    }
    return new Promise((go) => this.queue.push({ write, go }));
  }

  private canGo(write: boolean): boolean {
    return write ? !this.writing && this.readers === 0 : !this.writing;
  }

  private take(write: boolean): void {
    if (write) this.writing = true;
    else this.readers++;
  }

  private wake(): void {
    while (this.queue.length > 0 && this.canGo(this.queue[0]!.write)) {
      const next = this.queue.shift()!;
      this.take(next.write);
      next.go();
    }
  }
}
