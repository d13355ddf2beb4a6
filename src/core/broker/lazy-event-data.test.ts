import { describe, expect, it } from 'vitest';
import { encodeEvent, encodeEventNotification } from './event-encoding.js';
import { LazyEventData, eventData } from './lazy-event-data.js';
import { MemoryBroker } from './memory-broker.js';

describe('LazyEventData', () => {
  it('is published without being built; its JSON (history, subscribers) is the built value, built once', () => {
    const b = new MemoryBroker();
    let builds = 0;
    const value = { id: 'r1', stream: 'stdout', offset: 0, data: 'héllo\n' };
    const lazy = new LazyEventData(Buffer.byteLength(value.data), () => (builds++, { ...value }));
    const plain = b.publish('exec.output', value);
    const ev = b.publish('exec.output', lazy);
    // Kept in history unbuilt.
    expect(builds).toBe(0);
    expect(b.history(0).length).toBe(2);
    // On the wire it is the same event as the plain one (bar seq).
    const strip = (s: string) => s.replace(/"seq":\d+/, '');
    expect(strip(encodeEvent(ev))).toBe(strip(encodeEvent(plain)));
    expect(JSON.parse(JSON.stringify(b.history(0)[1])).data).toEqual(value);
    expect(JSON.parse(encodeEventNotification('s1', ev)).params.data).toEqual(value);
    expect(eventData(ev.data)).toEqual(value);
    expect(builds).toBe(1);
    b.dispose();
  });

  it('is checked against maxEventBytes by its stated size, and built to be checked when it does not fit', () => {
    const b = new MemoryBroker({ limits: { maxEventBytes: 4096 } });
    const small = new LazyEventData(100, () => 'x'.repeat(100));
    expect(() => b.publish('t.small', small)).not.toThrow();
    const big = new LazyEventData(8000, () => 'x'.repeat(8000));
    expect(() => b.publish('t.big', big)).toThrow(/maxEventBytes/);
    b.dispose();
  });
});
