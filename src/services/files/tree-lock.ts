/**
 * Readers-writer lock over the workspace tree, held by every files.* call from resolving its
 * paths to its last syscall on them. Node has no openat(), so a path checked by PathGuard is
 * used again by name; the check holds only while nothing renames a folder or places a symlink
 * along that name in between. Calls that cannot change what a path resolves to (writing or
 * replacing a regular file, creating folders, deleting or moving a regular file) hold it
 * shared and run side by side; calls that can (moving, copying or deleting a folder or a
 * symlink) hold it exclusively. Waiting exclusive holders go first (no starvation by a stream
 * of writes). Granting is synchronous when free, so an uncontended shared turn costs no tick.
 */
export class TreeLock {
  private sharedHolders = 0;
  private exclusiveHeld = false;
  private readonly waiting: { exclusive: boolean; grant: () => void }[] = [];

  shared<T>(fn: () => Promise<T>): Promise<T> {
    return this.run(false, fn);
  }

  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.run(true, fn);
  }

  /** Holders and waiters now (for tests and diagnostics). */
  get state(): { shared: number; exclusive: boolean; waiting: number } {
    return { shared: this.sharedHolders, exclusive: this.exclusiveHeld, waiting: this.waiting.length };
  }

  private async run<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    if (!this.tryTake(exclusive)) await new Promise<void>((grant) => this.waiting.push({ exclusive, grant }));
    try {
      return await fn();
    } finally {
      if (exclusive) this.exclusiveHeld = false;
      else this.sharedHolders--;
      this.pump();
    }
  }

  private tryTake(exclusive: boolean): boolean {
    if (this.exclusiveHeld || this.waiting.length) return false;
    if (exclusive) {
      if (this.sharedHolders) return false;
      this.exclusiveHeld = true;
    } else this.sharedHolders++;
    return true;
  }

  private pump(): void {
    while (this.waiting.length && !this.exclusiveHeld) {
      const next = this.waiting[0]!;
      if (next.exclusive) {
        if (this.sharedHolders) return;
        this.exclusiveHeld = true;
      } else this.sharedHolders++;
      this.waiting.shift();
      next.grant();
    }
  }
}
