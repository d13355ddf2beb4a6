import type { Disposable } from '../lifecycle.js';

export type ClientKind = 'browser' | 'cli' | 'agent' | 'system';

const CLIENT_KINDS: ReadonlySet<string> = new Set(['browser', 'cli', 'agent']);

/** The kind a client claims (query `kind` / header `X-Icpy-Client-Kind`); never 'system'. */
export function clientKindOf(raw: unknown, fallback: Exclude<ClientKind, 'system'>): ClientKind {
  return typeof raw === 'string' && CLIENT_KINDS.has(raw) ? (raw as ClientKind) : fallback;
}

/** A client's display name: at most 100 characters, else `fallback`. */
export function clientNameOf(raw: unknown, fallback: string): string {
  return (typeof raw === 'string' ? raw.slice(0, 100) : '') || fallback;
}

/** Who caused an event: a connection (human or agent) or the server itself. */
export interface EventSource {
  connectionId: string;
  kind: ClientKind;
  name: string;
}

export const SYSTEM_SOURCE: EventSource = Object.freeze({ connectionId: 'system', kind: 'system', name: 'icpy' });

export interface BrokerEvent<T = unknown> {
  topic: string;
  /** Rises by exactly one per event in this broker's log. */
  seq: number;
  /** Milliseconds since the epoch. */
  time: number;
  source: EventSource;
  /**
   * May be a LazyEventData (its JSON is the value it builds): in-process handlers that read
   * fields go through `eventData(ev.data)`; encoders need nothing (JSON.stringify calls toJSON).
   */
  data: T;
}

/**
 * Receives events in order. Return `false` to say "I am full": the broker then queues further
 * events for this subscription (bounded) until `resume()` is called.
 */
export type EventHandler = (event: BrokerEvent) => boolean | void;

export interface LagInfo {
  subscriptionId: string;
  /** The seq of the last event handed to the handler; resubscribe with `since` = this. */
  lastDeliveredSeq: number;
  queued: number;
}

export interface SubscribeOptions {
  /** Replay every kept event with seq > since before live ones. */
  since?: number;
  /** Start paused (events queue) until resume(); lets a transport send its reply first. */
  paused?: boolean;
  /** Queue bound while the consumer is full; beyond it the subscription is dropped as lagged. */
  maxQueue?: number;
  onLag?: (info: LagInfo) => void;
}

export interface Subscription extends Disposable {
  readonly id: string;
  readonly patterns: readonly string[];
  /** Seq of the last event handed to the handler (or `since`, or the log's seq at subscribe). */
  readonly lastDeliveredSeq: number;
  readonly closed: boolean;
  /** Deliver queued events until the handler reports full again. */
  resume(): void;
  dispose(): void;
}

export interface BrokerStats {
  /** Random id of this log; a new one means seq numbers restarted. */
  epoch: string;
  lastSeq: number;
  /** Oldest seq still in history (lastSeq + 1 when history is empty). */
  oldestSeq: number;
  historyEvents: number;
  historyBytes: number;
  subscriptions: number;
}

export type RequestHandler = (data: unknown) => unknown | Promise<unknown>;

/**
 * The broker owns seq assignment, history and replay. Services and transports see only this
 * interface, so a shared implementation (Redis Streams) can replace the in-memory one.
 */
export interface Broker extends Disposable {
  publish<T>(topic: string, data: T, source?: EventSource): BrokerEvent<T>;
  /** Throws IcpyError EVENTS_GAP when `since` is older than kept history (or ahead of the log). */
  subscribe(patterns: readonly string[], handler: EventHandler, options?: SubscribeOptions): Subscription;
  /** Kept events with seq > since, matching any pattern (all when patterns omitted). */
  history(since: number, patterns?: readonly string[]): BrokerEvent[];
  stats(): BrokerStats;
  /** Service-to-service request/response: one handler per topic. */
  handle(topic: string, handler: RequestHandler): Disposable;
  request<R = unknown>(topic: string, data: unknown, options?: { timeoutMs?: number }): Promise<R>;
}
