import { describe, expect, it } from 'vitest';
import { ByteBudget } from './byte-budget.js';

const budget = () => new ByteBudget({ max: 10, limitName: 'maxInflightReadBytes', maxWaiting: 4 });

/** A lazy signal source that counts how often the budget asked for it. */
function counted(signal: AbortSignal = new AbortController().signal) {
  let asked = 0;
  return {
    source: () => {
      asked++;
      return signal;
    },
    asked: () => asked,
  };
}

describe('ByteBudget with a lazy signal', () => {
  it('does not make the signal when the bytes fit at once', async () => {
    const b = budget();
    const lazy = counted();
    const lease = await b.acquire(6, lazy.source);
    expect(lazy.asked()).toBe(0);
    expect(b.inUse).toBe(6);
    lease.release();
    expect(b.inUse).toBe(0);
  });

  it('makes it when the request waits, and the wait ends with its reason when it aborts', async () => {
    const b = budget();
    const first = await b.acquire(8);
    const c = new AbortController();
    const lazy = counted(c.signal);
    const waiting = b.acquire(5, lazy.source);
    expect(lazy.asked()).toBe(1);
    expect(b.waiting).toBe(1);
    c.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(b.waiting).toBe(0);
    first.release();
    expect(b.inUse).toBe(0);
  });

  it('a lazy signal already aborted refuses a request that would wait', async () => {
    const b = budget();
    const first = await b.acquire(8);
    const c = new AbortController();
    c.abort();
    await expect(b.acquire(5, () => c.signal)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(b.waiting).toBe(0);
    first.release();
  });

  it('through a parent: a waiter on the parent asks for the signal too', async () => {
    const server = budget();
    const conn = new ByteBudget({ max: 10, limitName: 'maxInflightReadBytesPerConnection', maxWaiting: 4, parent: server });
    const other = await server.acquire(9);
    const c = new AbortController();
    const waiting = conn.acquire(4, () => c.signal);
    await Promise.resolve();
    await Promise.resolve();
    expect(server.waiting).toBe(1);
    c.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(conn.inUse).toBe(0);
    other.release();
    expect(server.inUse).toBe(0);
  });
});
