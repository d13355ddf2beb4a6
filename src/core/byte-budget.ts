import { IcpyError } from './errors.js';

/** A reservation of bytes; release it exactly once (further calls do nothing). */
export interface BudgetLease {
  readonly bytes: number;
  release(): void;
}

interface Waiter {
  bytes: number;
  grant: () => void;
  fail: (err: unknown) => void;
}

export interface ByteBudgetOptions {
  /** Bytes that may be held at once. */
  max: number;
  /** The setting named in LIMIT_EXCEEDED errors (`data.limit`). */
  limitName: string;
  /** Requests that may wait at once; one more is refused with LIMIT_EXCEEDED. */
  maxWaiting: number;
  /** Budget that must also have room (per connection → per server); taken after this one. */
  parent?: ByteBudget;
}

const NOOP_LEASE: BudgetLease = { bytes: 0, release() {} };

/**
 * The caller's abort signal, or a function that makes it: it is asked for only when the request
 * has to wait. An HTTP call context makes its signal on first use (an AbortController and a close
 * listener per request — a measurable part of a 4 KB REST GET, issue 9), and a read that fits at
 * once never needs it.
 */
export type SignalSource = AbortSignal | (() => AbortSignal | undefined);

const signalOf = (s: SignalSource | undefined): AbortSignal | undefined => (typeof s === 'function' ? s() : s);

/**
 * Bounds bytes held at once (e.g. file bytes being read), with a bounded FIFO queue: a request
 * waits until every earlier waiter is served and its bytes fit, so a stream of small requests
 * cannot starve a large one. A request larger than `max` can never fit and a full queue refuses
 * at once; both are LIMIT_EXCEEDED. A wait ends with the signal's reason when it aborts.
 *
 * With a parent, a lease holds bytes in both: this budget first (so one connection queues behind
 * its own reads, not the server's), then the parent.
 */
export class ByteBudget {
  private used = 0;
  private readonly queue: Waiter[] = [];

  constructor(private readonly opts: ByteBudgetOptions) {}

  get inUse(): number {
    return this.used;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /** Take `bytes`, waiting in line if needed. Resolves synchronously-fast when there is room. */
  acquire(bytes: number, signal?: SignalSource): Promise<BudgetLease> {
    if (bytes <= 0) return Promise.resolve(NOOP_LEASE);
    const own = this.take(bytes, signal);
    const parent = this.opts.parent;
    if (!parent) return own.then(() => this.lease(bytes, undefined));
    return own.then(
      () =>
        parent.acquire(bytes, signal).then(
          (p) => this.lease(bytes, p),
          (err) => {
            this.give(bytes);
            throw err;
          },
        ),
    );
  }

  private lease(bytes: number, parent: BudgetLease | undefined): BudgetLease {
    let held = true;
    return {
      bytes,
      release: () => {
        if (!held) return;
        held = false;
        this.give(bytes);
        parent?.release();
      },
    };
  }

  private take(bytes: number, source?: SignalSource): Promise<void> {
    const { max, limitName, maxWaiting } = this.opts;
    if (bytes > max) {
      return Promise.reject(new IcpyError('LIMIT_EXCEEDED', `Reading ${bytes} bytes at once exceeds ${limitName} (${max} bytes)`, { limit: limitName, max }));
    }
    // A signal that is already made is checked at once; a lazy one only when the request waits
    // (a caller already gone gets its bytes and releases them when its response closes).
    if (typeof source !== 'function' && source?.aborted) return Promise.reject(abortError(source));
    if (this.queue.length === 0 && this.used + bytes <= max) {
      this.used += bytes;
      return Promise.resolve();
    }
    const signal = signalOf(source);
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.queue.length >= maxWaiting) {
      return Promise.reject(
        new IcpyError('LIMIT_EXCEEDED', `Too many reads are waiting for ${limitName} (${max} bytes in flight); retry later`, { limit: limitName, max }),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        reject(abortError(signal!));
        // The head may have been what blocked the ones behind it.
        this.drain();
      };
      const waiter: Waiter = {
        bytes,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        fail: reject,
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private give(bytes: number): void {
    this.used -= bytes;
    this.drain();
  }

  private drain(): void {
    while (this.queue.length > 0 && this.used + this.queue[0]!.bytes <= this.opts.max) {
      const w = this.queue.shift()!;
      this.used += w.bytes;
      w.grant();
    }
  }
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason instanceof IcpyError ? signal.reason : new IcpyError('UNAVAILABLE', 'The caller went away', { reason: 'aborted' });
}
