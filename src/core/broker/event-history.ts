import type { BrokerEvent } from './broker.js';

/**
 * Bounded log of recent events, by count and by (approximate) bytes. Seqs in the log are
 * contiguous, so lookup by seq is an index computation.
 */
export class EventHistory {
  private buf: (BrokerEvent | undefined)[];
  private sizes: Float64Array;
  private head = 0; // index of oldest
  private count = 0;
  private bytesHeld = 0;

  constructor(
    private readonly maxEvents: number,
    private readonly maxBytes: number,
  ) {
    if (maxEvents < 1) throw new Error('maxEvents must be >= 1');
    this.buf = new Array(maxEvents);
    this.sizes = new Float64Array(maxEvents);
  }

  get length(): number {
    return this.count;
  }

  get bytes(): number {
    return this.bytesHeld;
  }

  /** Seq of the oldest kept event, or undefined when empty. */
  get oldestSeq(): number | undefined {
    return this.count ? this.buf[this.head]!.seq : undefined;
  }

  push(ev: BrokerEvent, size: number): void {
    if (this.count === this.maxEvents) {
      // Full (the steady state of a busy server): the newest takes the oldest's slot, one store
      // instead of clearing it in shift() and filling the next.
      const h = this.head;
      this.bytesHeld += size - this.sizes[h]!;
      this.buf[h] = ev;
      this.sizes[h] = size;
      this.head = h + 1 === this.maxEvents ? 0 : h + 1;
      while (this.bytesHeld > this.maxBytes && this.count > 1) this.shift();
      return;
    }
    let i = this.head + this.count;
    if (i >= this.maxEvents) i -= this.maxEvents;
    this.buf[i] = ev;
    this.sizes[i] = size;
    this.count++;
    this.bytesHeld += size;
    // Always keep the newest event, even if it alone exceeds maxBytes.
    while (this.bytesHeld > this.maxBytes && this.count > 1) this.shift();
  }

  private shift(): void {
    const i = this.head;
    this.bytesHeld -= this.sizes[i]!;
    this.buf[i] = undefined;
    this.head = this.head + 1 === this.maxEvents ? 0 : this.head + 1;
    this.count--;
  }

  /** Events with seq > since, oldest first. */
  *after(since: number): Generator<BrokerEvent> {
    if (!this.count) return;
    const oldest = this.buf[this.head]!.seq;
    const start = Math.max(0, since - oldest + 1);
    for (let k = start; k < this.count; k++) yield this.buf[(this.head + k) % this.maxEvents]!;
  }
}

/**
 * Cheap size estimate (in bytes of JSON, roughly) used for the history's byte bound; it
 * avoids serialising every event on the hot path.
 */
export function approxSize(value: unknown): number {
  if (typeof value === 'string') return value.length + 2;
  if (typeof value !== 'object' || value === null) return 8;
  return objectSize(value, 0);
}

function objectSize(o: object, depth: number): number {
  if (depth > 8) return 64;
  let n = 2;
  if (Array.isArray(o)) {
    for (let i = 0; i < o.length; i++) {
      const v: unknown = o[i];
      n += 1 + (typeof v === 'string' ? v.length + 2 : typeof v === 'object' && v !== null ? objectSize(v, depth + 1) : 8);
    }
    return n;
  }
  if (ArrayBuffer.isView(o)) return o.byteLength * 2;
  for (const k in o) {
    const v: unknown = (o as Record<string, unknown>)[k];
    n += k.length + 4 + (typeof v === 'string' ? v.length + 2 : typeof v === 'object' && v !== null ? objectSize(v, depth + 1) : 8);
  }
  return n;
}
