import { describe, expect, it } from 'vitest';
import { IcpyError } from '../errors.js';
import type { BrokerEvent } from './broker.js';
import { MemoryBroker } from './memory-broker.js';
import { encodeEvent, encodeEventNotification } from './event-encoding.js';

describe('topic patterns', () => {
  // The matching table and the random comparison live in topic-pattern.test.ts.
  it('rejects malformed patterns and topics with INVALID_PARAMS', () => {
    const b = new MemoryBroker();
    expect(() => b.subscribe(['fs.f*'], () => {})).toThrow(IcpyError);
    expect(() => b.subscribe(['a..b'], () => {})).toThrow(/segment/);
    expect(() => b.publish('a.*', 1)).toThrow(IcpyError);
    expect(() => b.subscribe([], () => {})).toThrow(/at least one/);
  });
});

describe('MemoryBroker', () => {
  it('assigns a seq rising by one and delivers in order to exact and wildcard subscribers once', () => {
    const b = new MemoryBroker();
    const got: number[] = [];
    const wild: number[] = [];
    b.subscribe(['a.b'], (e) => void got.push(e.seq));
    // Two patterns matching the same topic deliver once.
    b.subscribe(['a.*', '**'], (e) => void wild.push(e.seq));
    for (let i = 0; i < 5; i++) b.publish('a.b', i);
    b.publish('x.y', 0);
    expect(got).toEqual([1, 2, 3, 4, 5]);
    expect(wild).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('bounds history by count and by bytes', () => {
    const byCount = new MemoryBroker({ historyEvents: 10 });
    for (let i = 0; i < 25; i++) byCount.publish('t', i);
    expect(byCount.stats()).toMatchObject({ lastSeq: 25, oldestSeq: 16, historyEvents: 10 });

    const byBytes = new MemoryBroker({ historyEvents: 1000, historyBytes: 10_000 });
    for (let i = 0; i < 100; i++) byBytes.publish('t', 'x'.repeat(1000));
    const st = byBytes.stats();
    expect(st.historyBytes).toBeLessThanOrEqual(10_000);
    expect(st.historyEvents).toBeLessThan(10);
    expect(st.oldestSeq).toBe(100 - st.historyEvents + 1);
  });

  it('a full history gives the oldest slot to the newest event and keeps its byte count exact', () => {
    const one = new MemoryBroker();
    one.publish('t', { path: 'p', n: 1 });
    const size = one.stats().historyBytes;
    // Wrap the ring several times with sizes that differ, then fill it with one size again.
    const b = new MemoryBroker({ historyEvents: 7, historyBytes: 10_000 });
    for (let i = 0; i < 40; i++) b.publish('t', { path: 'p'.repeat(i % 5), n: i, ok: i % 2 === 0 });
    for (let i = 0; i < 7; i++) b.publish('t', { path: 'p', n: 1 });
    expect(b.stats()).toMatchObject({ lastSeq: 47, oldestSeq: 41, historyEvents: 7, historyBytes: 7 * size });
    expect(b.history(40).map((e) => e.seq)).toEqual([41, 42, 43, 44, 45, 46, 47]);
    // The byte bound still evicts from a full ring: one big event leaves room for few others.
    b.publish('t', { path: 'x'.repeat(9_800) });
    expect(b.stats().historyEvents).toBeLessThan(7);
    expect(b.stats().historyBytes).toBeLessThanOrEqual(10_000);
    expect(b.history(b.stats().oldestSeq - 1).at(-1)!.seq).toBe(48);
    one.dispose();
    b.dispose();
  });

  it('replays kept events after since, then live ones, with no gap or duplicate', () => {
    const b = new MemoryBroker();
    for (let i = 1; i <= 50; i++) b.publish(i % 2 ? 'odd.n' : 'even.n', i);
    const seen: BrokerEvent[] = [];
    b.subscribe(['odd.*'], (e) => void seen.push(e), { since: 10 });
    b.publish('odd.n', 51);
    expect(seen.map((e) => e.data)).toEqual([11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31, 33, 35, 37, 39, 41, 43, 45, 47, 49, 51]);
  });

  it('reports EVENTS_GAP with the oldest kept seq when since is too old, or ahead of the log', () => {
    const b = new MemoryBroker({ historyEvents: 10 });
    for (let i = 0; i < 30; i++) b.publish('t', i);
    let err: IcpyError | undefined;
    try {
      b.subscribe(['t'], () => {}, { since: 5 });
    } catch (e) {
      err = e as IcpyError;
    }
    expect(err?.code).toBe('EVENTS_GAP');
    expect(err?.data).toMatchObject({ oldestSeq: 21, lastSeq: 30, reason: 'evicted' });
    // since = oldest - 1 is still complete.
    expect(() => b.subscribe(['t'], () => {}, { since: 20 })).not.toThrow();
    expect(() => b.subscribe(['t'], () => {}, { since: 31 })).toThrow(expect.objectContaining({ code: 'EVENTS_GAP' }));
  });

  it('queues while the consumer is full, resumes in order, and drops a subscriber that lags past its queue', () => {
    const b = new MemoryBroker();
    const got: number[] = [];
    let full = true;
    const lags: unknown[] = [];
    const sub = b.subscribe(
      ['t'],
      (e) => {
        got.push(e.seq);
        return !full;
      },
      { maxQueue: 5, onLag: (i) => lags.push(i) },
    );
    b.publish('t', 1); // delivered, consumer says full
    for (let i = 0; i < 5; i++) b.publish('t', i); // queued (5)
    expect(got).toEqual([1]);
    full = false;
    sub.resume();
    expect(got).toEqual([1, 2, 3, 4, 5, 6]);
    full = true;
    b.publish('t', 0); // delivered (7), full again
    for (let i = 0; i < 6; i++) b.publish('t', i); // 5 queue, 6th overflows
    expect(lags).toEqual([{ subscriptionId: sub.id, lastDeliveredSeq: 7, queued: 5 }]);
    expect(sub.closed).toBe(true);
    expect(b.stats().subscriptions).toBe(0);
  });

  it('starts paused, so a transport can reply before the replay flows', () => {
    const b = new MemoryBroker();
    b.publish('t', 1);
    const got: number[] = [];
    const sub = b.subscribe(['t'], (e) => void got.push(e.seq), { since: 0, paused: true });
    b.publish('t', 2);
    expect(got).toEqual([]);
    sub.resume();
    b.publish('t', 3);
    expect(got).toEqual([1, 2, 3]);
  });

  it('isolates a throwing subscriber', () => {
    const errors: unknown[] = [];
    const b = new MemoryBroker({ onHandlerError: (e) => errors.push(e) });
    const got: number[] = [];
    b.subscribe(['t'], () => {
      throw new Error('boom');
    });
    b.subscribe(['t'], (e) => void got.push(e.seq));
    b.publish('t', 1);
    b.publish('t', 2);
    expect(got).toEqual([1, 2]);
    expect(errors).toHaveLength(2);
  });

  it('a topic published again reaches subscribers added or removed in between, and an invalid topic is refused every time', () => {
    // Guards the last-topic front of the match cache: it must be dropped with the cache.
    const b = new MemoryBroker({ matchCacheSize: 1 });
    const first: number[] = [];
    const second: number[] = [];
    const s1 = b.subscribe(['t.a'], (e) => void first.push(e.seq));
    b.publish('t.a', 0);
    b.publish('t.a', 0);
    const s2 = b.subscribe(['t.*'], (e) => void second.push(e.seq));
    b.publish('t.a', 0);
    s1.dispose();
    b.publish('t.a', 0);
    b.publish('t.b', 0); // evicts 't.a' from the one-entry match cache
    b.publish('t.a', 0);
    s2.dispose();
    b.publish('t.a', 0);
    expect(first).toEqual([1, 2, 3]);
    expect(second).toEqual([3, 4, 5, 6]);
    b.subscribe(['x'], () => {}).dispose(); // the cache is cleared just before the bad topics
    for (const bad of ['', '', 'a..b', undefined, undefined]) {
      expect(() => b.publish(bad as string, 0)).toThrow(expect.objectContaining({ code: 'INVALID_PARAMS', data: { field: 'topic' } }));
    }
    expect(b.stats().lastSeq).toBe(7);
  });

  it('unsubscribes on dispose and stops delivery', () => {
    const b = new MemoryBroker();
    const got: number[] = [];
    const sub = b.subscribe(['t.**'], (e) => void got.push(e.seq));
    b.publish('t.a', 1);
    sub.dispose();
    b.publish('t.a', 2);
    expect(got).toEqual([1]);
    expect(b.stats().subscriptions).toBe(0);
  });

  it('answers requests through one handler per topic, with timeouts', async () => {
    const b = new MemoryBroker();
    const h = b.handle('svc.echo', (d) => ({ echoed: d }));
    await expect(b.request('svc.echo', 42)).resolves.toEqual({ echoed: 42 });
    expect(() => b.handle('svc.echo', () => 0)).toThrow(/already/);
    b.handle('svc.slow', () => new Promise(() => {}));
    await expect(b.request('svc.slow', 1, { timeoutMs: 20 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    h.dispose();
    await expect(b.request('svc.echo', 1)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});

describe('MemoryBroker publish checks', () => {
  const deep = (n: number) => {
    let v: unknown = 0;
    for (let i = 0; i < n; i++) v = [v];
    return v;
  };

  it('refuses data nested past maxValueDepth, unencodable or oversized, before it gets a seq or enters history', () => {
    const b = new MemoryBroker({ limits: { maxValueDepth: 8, maxEventBytes: 1000 } });
    const got: number[] = [];
    b.subscribe(['t.**'], (e) => void got.push(e.seq));
    b.publish('t.ok', { a: 1 });
    const err = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e as IcpyError;
      }
      throw new Error('did not throw');
    };
    expect(err(() => b.publish('t.deep', deep(100_000)))).toMatchObject({ code: 'INVALID_PARAMS', data: { field: 'data', limit: 'maxValueDepth', max: 8 } });
    expect(err(() => b.publish('t.big', 'x'.repeat(2000)))).toMatchObject({ code: 'LIMIT_EXCEEDED', data: { limit: 'maxEventBytes', max: 1000 } });
    expect(err(() => b.publish('t.bigint', { n: 1n }))).toMatchObject({ code: 'INVALID_PARAMS', data: { field: 'data' } });
    // Flat plain objects are measured on their own fast path: its bound is the same bound.
    expect(err(() => b.publish('t.flat', { path: 'x'.repeat(2000), size: 1 }))).toMatchObject({ code: 'LIMIT_EXCEEDED', data: { limit: 'maxEventBytes' } });
    expect(err(() => b.publish('t.flat', { path: 'ü'.repeat(600) }))).toMatchObject({ code: 'LIMIT_EXCEEDED', data: { limit: 'maxEventBytes' } });
    expect(() => b.publish('t.edge', deep(8))).not.toThrow();
    b.publish('t.ok', { a: 2 });
    expect(got).toEqual([1, 2, 3]);
    expect(b.history(0).map((e) => e.topic)).toEqual(['t.ok', 't.edge', 't.ok']);
  });

  it('encodes an event once for every subscriber and transport, and never serialises its cache', () => {
    const b = new MemoryBroker();
    const data = { when: new Date(0), list: [1, 2] };
    const ev = b.publish('t', data);
    expect(encodeEvent(ev)).toBe(encodeEvent(ev));
    expect(JSON.parse(encodeEvent(ev))).toEqual({ topic: 't', seq: 1, time: ev.time, source: ev.source, data: JSON.parse(JSON.stringify(data)) });
    expect(Object.keys(ev)).toEqual(['topic', 'seq', 'time', 'source', 'data']);
    expect(encodeEventNotification('s1', ev)).toBe(`{"jsonrpc":"2.0","method":"event","params":{"subscription":"s1",${encodeEvent(ev).slice(1)}}`);
  });

  it('applies pattern limits to subscribe and history', () => {
    const b = new MemoryBroker({ limits: { maxPatternsPerSubscription: 2, maxPatternSegments: 3 } });
    expect(() => b.subscribe(['a', 'b', 'c'], () => {})).toThrow(expect.objectContaining({ code: 'LIMIT_EXCEEDED' }));
    expect(() => b.history(0, ['a.b.c.d'])).toThrow(expect.objectContaining({ code: 'INVALID_PARAMS', data: expect.objectContaining({ field: 'patterns.0' }) }));
  });
});
