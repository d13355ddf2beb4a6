import { randomUUID } from 'node:crypto';
import { IcpyError } from '../errors.js';
import { toDisposable, type Disposable } from '../lifecycle.js';
import type {
  Broker,
  BrokerEvent,
  BrokerStats,
  EventHandler,
  EventSource,
  RequestHandler,
  SubscribeOptions,
  Subscription,
} from './broker.js';
import { SYSTEM_SOURCE } from './broker.js';
import { DEFAULT_EVENT_LIMITS, checkEvent, rememberEncoding, type EventLimits } from './event-encoding.js';
import { EventHistory } from './event-history.js';
import { DEFAULT_PATTERN_LIMITS, assertPatterns, assertTopic, compilePattern, isWildcard, type PatternLimits } from './topic-pattern.js';

export interface MemoryBrokerOptions {
  /** History bound by count (default 10,000 events). */
  historyEvents?: number;
  /** History bound by approximate bytes (default 16 MiB). */
  historyBytes?: number;
  /** Default per-subscription queue bound while its consumer is full (default 10,000). */
  maxQueue?: number;
  /** Called when a subscriber's handler throws; the subscriber stays subscribed. */
  onHandlerError?: (err: unknown, event: BrokerEvent) => void;
  /** Topic-match cache size before it is cleared (default 4,096 topics). */
  matchCacheSize?: number;
  /** Pattern bounds (subscribe, history) and event bounds (publish); defaults as in the docs. */
  limits?: Partial<PatternLimits & EventLimits>;
}

class MemorySubscription implements Subscription {
  closed = false;
  paused: boolean;
  queue: BrokerEvent[] = [];
  lastDeliveredSeq: number;
  readonly matchers: ((segs: readonly string[]) => boolean)[];

  constructor(
    readonly id: string,
    readonly patterns: readonly string[],
    readonly handler: EventHandler,
    readonly maxQueue: number,
    readonly onLag: SubscribeOptions['onLag'],
    private readonly broker: MemoryBroker,
    startSeq: number,
    paused: boolean,
  ) {
    this.matchers = patterns.filter(isWildcard).map(compilePattern);
    this.lastDeliveredSeq = startSeq;
    this.paused = paused;
  }

  /** Extra queue room granted to a replay, so a large `since` replay is not itself a lag. */
  allowance = 0;

  /** Hand one event to the handler, or queue it. */
  offer(ev: BrokerEvent): void {
    if (this.closed) return;
    if (this.paused || this.queue.length) {
      if (this.queue.length >= this.maxQueue + this.allowance) return this.lag();
      this.queue.push(ev);
      return;
    }
    this.deliver(ev);
  }

  private deliver(ev: BrokerEvent): void {
    this.lastDeliveredSeq = ev.seq;
    let r: boolean | void = undefined;
    try {
      r = this.handler(ev);
    } catch (err) {
      this.broker.reportHandlerError(err, ev);
    }
    if (r === false) this.paused = true;
  }

  resume(): void {
    if (this.closed) return;
    this.paused = false;
    let i = 0;
    while (i < this.queue.length && !this.paused && !this.closed) this.deliver(this.queue[i++]!);
    this.queue.splice(0, i);
    if (!this.queue.length) this.allowance = 0;
  }

  private lag(): void {
    const info = { subscriptionId: this.id, lastDeliveredSeq: this.lastDeliveredSeq, queued: this.queue.length };
    this.dispose();
    this.onLag?.(info);
  }

  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.broker.remove(this);
  }
}

/** Single-process broker: synchronous, ordered delivery; history in a ring buffer. */
export class MemoryBroker implements Broker {
  private seq = 0;
  private readonly epoch = randomUUID();
  private readonly log: EventHistory;
  private readonly exact = new Map<string, Set<MemorySubscription>>();
  private readonly wildcard = new Set<MemorySubscription>();
  private readonly matchCache = new Map<string, MemorySubscription[]>();
  /**
   * The last published topic and its targets: a one-entry front of matchCache, cleared with it
   * (targets undefined, so no topic — not even '' — skips validation through it).
   */
  private lastTopic = '';
  private lastTargets: MemorySubscription[] | undefined;
  private readonly handlers = new Map<string, RequestHandler>();
  private readonly subs = new Set<MemorySubscription>();
  private nextSubId = 1;
  private readonly maxQueue: number;
  private readonly matchCacheSize: number;
  private readonly patternLimits: PatternLimits;
  private readonly eventLimits: EventLimits;
  private disposed = false;

  constructor(private readonly options: MemoryBrokerOptions = {}) {
    this.log = new EventHistory(options.historyEvents ?? 10_000, options.historyBytes ?? 16 * 1024 * 1024);
    this.maxQueue = options.maxQueue ?? 10_000;
    this.matchCacheSize = options.matchCacheSize ?? 4096;
    const l = options.limits ?? {};
    this.patternLimits = {
      maxPatternLength: l.maxPatternLength ?? DEFAULT_PATTERN_LIMITS.maxPatternLength,
      maxPatternSegments: l.maxPatternSegments ?? DEFAULT_PATTERN_LIMITS.maxPatternSegments,
      maxPatternsPerSubscription: l.maxPatternsPerSubscription ?? DEFAULT_PATTERN_LIMITS.maxPatternsPerSubscription,
    };
    this.eventLimits = {
      maxEventBytes: l.maxEventBytes ?? DEFAULT_EVENT_LIMITS.maxEventBytes,
      maxValueDepth: l.maxValueDepth ?? DEFAULT_EVENT_LIMITS.maxValueDepth,
    };
  }

  /** Pattern bounds this broker enforces, so transports can check input the same way. */
  get limits(): Readonly<PatternLimits & EventLimits> {
    return { ...this.patternLimits, ...this.eventLimits };
  }

  publish<T>(topic: string, data: T, source: EventSource = SYSTEM_SOURCE): BrokerEvent<T> {
    if (this.disposed) throw new IcpyError('UNAVAILABLE', 'Broker is closed');
    // A topic in the match cache was validated when it entered; re-checking it on every publish
    // (split + a regex per segment) was over half the cost of a publish to one subscriber. Bursts
    // repeat one topic (exec output, a save storm), so the last topic's targets are kept aside:
    // the same string compares by pointer, skipping the Map's hash lookup.
    let targets = topic === this.lastTopic ? this.lastTargets : undefined;
    if (targets === undefined) {
      targets = this.matchCache.get(topic);
      if (targets === undefined) {
        assertTopic(topic);
        targets = this.match(topic);
      }
      this.lastTopic = topic;
      this.lastTargets = targets;
    }
    // Checked (and, unless provably small plain JSON, encoded) before it gets a seq: an event that
    // cannot be sent to every subscriber never enters the log.
    const seq = this.seq + 1;
    const time = this.now();
    const checked = checkEvent(topic, seq, time, source, data, this.eventLimits);
    this.seq = seq;
    const ev: BrokerEvent<T> = { topic, seq, time, source, data };
    if (typeof checked === 'string') {
      rememberEncoding(ev, checked);
      this.log.push(ev, checked.length);
    } else {
      this.log.push(ev, checked);
    }
    for (let i = 0; i < targets.length; i++) targets[i]!.offer(ev);
    return ev;
  }

  /**
   * Event time in ms. Reading the clock cost more than the rest of a one-subscriber publish on
   * a VM, so a reading is shared by the events of one synchronous burst: it is dropped at the
   * next microtask and after every 64 events, so it is never more than a few µs stale.
   */
  private now(): number {
    if (this.clock === undefined || (this.seq & 63) === 0) {
      if (this.clock === undefined) queueMicrotask(this.resetClock);
      this.clock = Date.now();
    }
    return this.clock;
  }

  private clock: number | undefined;
  private readonly resetClock = () => {
    this.clock = undefined;
  };

  /** Subscribers of a topic not in the match cache (publish looks there first), then cached. */
  private match(topic: string): MemorySubscription[] {
    const out = new Set<MemorySubscription>(this.exact.get(topic));
    if (this.wildcard.size) {
      const segs = topic.split('.');
      for (const s of this.wildcard) {
        if (out.has(s)) continue;
        for (const m of s.matchers) {
          if (m(segs)) {
            out.add(s);
            break;
          }
        }
      }
    }
    // Deliver in subscription order so behaviour does not depend on exact-vs-wildcard.
    const list = [...out].sort((a, b) => subOrder(a) - subOrder(b));
    if (this.matchCache.size >= this.matchCacheSize) this.clearMatches();
    this.matchCache.set(topic, list);
    return list;
  }

  private clearMatches(): void {
    this.matchCache.clear();
    this.lastTopic = '';
    this.lastTargets = undefined;
  }

  subscribe(patterns: readonly string[], handler: EventHandler, options: SubscribeOptions = {}): Subscription {
    if (this.disposed) throw new IcpyError('UNAVAILABLE', 'Broker is closed');
    assertPatterns(patterns, this.patternLimits);
    const { since } = options;
    let replay: BrokerEvent[] = [];
    if (since !== undefined) {
      replay = this.history(since, patterns);
    }
    const sub = new MemorySubscription(
      `s${this.nextSubId++}`,
      [...patterns],
      handler,
      options.maxQueue ?? this.maxQueue,
      options.onLag,
      this,
      since ?? this.seq,
      options.paused ?? false,
    );
    this.subs.add(sub);
    for (const p of patterns) {
      if (isWildcard(p)) this.wildcard.add(sub);
      else {
        let set = this.exact.get(p);
        if (!set) this.exact.set(p, (set = new Set()));
        set.add(sub);
      }
    }
    this.clearMatches();
    sub.allowance = replay.length;
    for (const ev of replay) sub.offer(ev);
    return sub;
  }

  history(since: number, patterns?: readonly string[]): BrokerEvent[] {
    if (!Number.isInteger(since) || since < 0) {
      throw new IcpyError('INVALID_PARAMS', 'since: must be a non-negative integer', { field: 'since' });
    }
    if (patterns !== undefined) assertPatterns(patterns, this.patternLimits);
    const stats = this.stats();
    if (since > this.seq) {
      throw new IcpyError('EVENTS_GAP', `since (${since}) is ahead of this server's log (last seq ${this.seq}); resync`, {
        reason: 'ahead',
        oldestSeq: stats.oldestSeq,
        lastSeq: stats.lastSeq,
        epoch: stats.epoch,
      });
    }
    if (since < stats.oldestSeq - 1) {
      throw new IcpyError(
        'EVENTS_GAP',
        `Events after seq ${since} are no longer kept (oldest kept is ${stats.oldestSeq}); resync`,
        { reason: 'evicted', oldestSeq: stats.oldestSeq, lastSeq: stats.lastSeq, epoch: stats.epoch },
      );
    }
    const matchers = patterns?.map(compilePattern);
    const out: BrokerEvent[] = [];
    for (const ev of this.log.after(since)) {
      if (!matchers) out.push(ev);
      else {
        const segs = ev.topic.split('.');
        if (matchers.some((m) => m(segs))) out.push(ev);
      }
    }
    return out;
  }

  stats(): BrokerStats {
    return {
      epoch: this.epoch,
      lastSeq: this.seq,
      oldestSeq: this.log.oldestSeq ?? this.seq + 1,
      historyEvents: this.log.length,
      historyBytes: this.log.bytes,
      subscriptions: this.subs.size,
    };
  }

  /** @internal */
  remove(sub: MemorySubscription): void {
    if (!this.subs.delete(sub)) return;
    this.wildcard.delete(sub);
    for (const p of sub.patterns) {
      const set = this.exact.get(p);
      if (set) {
        set.delete(sub);
        if (!set.size) this.exact.delete(p);
      }
    }
    this.clearMatches();
  }

  /** @internal */
  reportHandlerError(err: unknown, ev: BrokerEvent): void {
    this.options.onHandlerError?.(err, ev);
  }

  handle(topic: string, handler: RequestHandler): Disposable {
    assertTopic(topic);
    if (this.handlers.has(topic)) throw new IcpyError('INVALID_REQUEST', `A handler for '${topic}' already exists`);
    this.handlers.set(topic, handler);
    return toDisposable(() => {
      if (this.handlers.get(topic) === handler) this.handlers.delete(topic);
    });
  }

  async request<R = unknown>(topic: string, data: unknown, options: { timeoutMs?: number } = {}): Promise<R> {
    const handler = this.handlers.get(topic);
    if (!handler) throw new IcpyError('UNAVAILABLE', `No handler for '${topic}'`);
    const timeoutMs = options.timeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      return (await Promise.race([
        Promise.resolve().then(() => handler(data)),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new IcpyError('TIMEOUT', `Request '${topic}' timed out after ${timeoutMs} ms`)), timeoutMs);
        }),
      ])) as R;
    } finally {
      clearTimeout(timer);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const s of [...this.subs]) s.dispose();
    this.handlers.clear();
  }
}

function subOrder(s: MemorySubscription): number {
  return Number(s.id.slice(1));
}
