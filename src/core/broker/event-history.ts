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
    if (this.count === this.maxEvents) this.shift();
    const i = (this.head + this.count) % this.maxEvents;
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
    this.head = (this.head + 1) % this.maxEvents;
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
export function approxSize(value: unknown, depth = 0): number {
  switch (typeof value) {
    case 'string':
      return value.length + 2;
    case 'number':
      return 8;
    case 'boolean':
      return 5;
    case 'undefined':
      return 0;
    case 'object': {
      if (value === null) return 4;
      if (depth > 8) return 64;
      let n = 2;
      if (Array.isArray(value)) {
        for (const v of value) n += approxSize(v, depth + 1) + 1;
        return n;
      }
      if (ArrayBuffer.isView(value)) return (value as ArrayBufferView).byteLength * 2;
      for (const k in value as Record<string, unknown>) {
        n += k.length + 4 + approxSize((value as Record<string, unknown>)[k], depth + 1);
      }
      return n;
    }
    default:
      return 16;
  }
}
