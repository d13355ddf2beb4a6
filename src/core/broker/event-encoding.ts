import { IcpyError } from '../errors.js';
import { inspectValue } from '../value-depth.js';
import type { BrokerEvent, EventSource } from './broker.js';

/** Bounds checked once per event, at publish. */
export interface EventLimits {
  /** UTF-8 bytes of one event's JSON (the `event` params as sent, data included). */
  maxEventBytes: number;
  /** Nesting depth of one event's data. */
  maxValueDepth: number;
}

export const DEFAULT_EVENT_LIMITS: EventLimits = { maxEventBytes: 1024 * 1024, maxValueDepth: 64 };

/**
 * An event as the broker logs it, with its JSON kept beside it (a private field, so it is never
 * serialised or compared). The JSON is made at most once however many subscribers and
 * transports the event goes to.
 */
export class PublishedEvent<T = unknown> implements BrokerEvent<T> {
  #json: string | undefined;

  constructor(
    readonly topic: string,
    readonly seq: number,
    readonly time: number,
    readonly source: EventSource,
    readonly data: T,
    json: string | undefined,
  ) {
    this.#json = json;
  }

  /** @internal */
  get json(): string {
    return (this.#json ??= encodeFields(this));
  }
}

function encodeFields(ev: BrokerEvent): string {
  return JSON.stringify({ topic: ev.topic, seq: ev.seq, time: ev.time, source: ev.source, data: ev.data });
}

/**
 * Check an event before it gets a seq: data nested deeper than `maxValueDepth` or that cannot be
 * encoded → INVALID_PARAMS (field `data`); JSON over `maxEventBytes` → LIMIT_EXCEEDED. Returns
 * the event's JSON when it had to be encoded to know (else undefined: plain data whose size bound
 * fits cannot fail to encode later) and the bytes to account for it in history.
 */
export function checkEvent(
  topic: string,
  seq: number,
  time: number,
  source: EventSource,
  data: unknown,
  limits: EventLimits,
): { json: string | undefined; bytes: number } {
  const shape = inspectValue(data, limits.maxValueDepth);
  if (shape.tooDeepAt) {
    throw new IcpyError('INVALID_PARAMS', `data: nested deeper than maxValueDepth (${limits.maxValueDepth}) at data.${shape.tooDeepAt.join('.')}`, {
      field: 'data',
      path: ['data', ...shape.tooDeepAt].join('.'),
      limit: 'maxValueDepth',
      max: limits.maxValueDepth,
    });
  }
  // Envelope: topic, seq, time, source (name ≤ 100 chars) — well under this.
  const envelope = topic.length + 6 * (source.name.length + source.connectionId.length) + 160;
  if (shape.plain && shape.maxBytes + envelope <= limits.maxEventBytes) {
    return { json: undefined, bytes: shape.approxBytes + topic.length + 96 };
  }
  let json: string;
  try {
    json = JSON.stringify({ topic, seq, time, source, data });
  } catch (err) {
    throw new IcpyError('INVALID_PARAMS', `data: cannot be encoded as JSON (${err instanceof Error ? err.message : String(err)})`, { field: 'data' });
  }
  const bytes = json.length * 3 <= limits.maxEventBytes ? json.length : Buffer.byteLength(json);
  if (bytes > limits.maxEventBytes) {
    throw new IcpyError('LIMIT_EXCEEDED', `Event of ${bytes} bytes exceeds maxEventBytes (${limits.maxEventBytes})`, {
      limit: 'maxEventBytes',
      max: limits.maxEventBytes,
      size: bytes,
    });
  }
  return { json, bytes };
}

/** JSON of an event, computed once however many subscribers it goes to. */
export function encodeEvent(ev: BrokerEvent): string {
  return ev instanceof PublishedEvent ? ev.json : encodeFields(ev);
}

/**
 * The JSON-RPC notification for an event on one subscription:
 * `{"jsonrpc":"2.0","method":"event","params":{"subscription":ID,"topic":…,"seq":…,…}}`.
 * Only the subscription id differs between subscribers, so it is spliced into the cached JSON.
 */
export function encodeEventNotification(subscriptionId: string, ev: BrokerEvent): string {
  return `{"jsonrpc":"2.0","method":"event","params":{"subscription":${JSON.stringify(subscriptionId)},${encodeEvent(ev).slice(1)}}`;
}
