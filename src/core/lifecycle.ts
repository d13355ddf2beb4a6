/** Anything that holds a resource and can release it. Dispose is idempotent. */
export interface Disposable {
  dispose(): void | Promise<void>;
}

export function toDisposable(fn: () => void | Promise<void>): Disposable {
  let done = false;
  return {
    dispose() {
      if (done) return;
      done = true;
      return fn();
    },
  };
}

/**
 * Owns disposables and releases them in reverse order of registration. Errors from one
 * disposable do not stop the others; the first is rethrown after all ran.
 */
export class DisposableStore implements Disposable {
  private readonly items: Disposable[] = [];
  private disposed = false;

  get isDisposed(): boolean {
    return this.disposed;
  }

  add<T extends Disposable>(d: T): T {
    if (this.disposed) {
      void d.dispose();
      return d;
    }
    this.items.push(d);
    return d;
  }

  delete(d: Disposable): void {
    const i = this.items.indexOf(d);
    if (i >= 0) this.items.splice(i, 1);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    let first: unknown;
    while (this.items.length) {
      const d = this.items.pop()!;
      try {
        await d.dispose();
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }
}
