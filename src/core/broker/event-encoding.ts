import { IcpyError } from '../errors.js';
import { inspectValue, lastApproxBytes, plainJsonBound } from '../value-depth.js';
import type { BrokerEvent, EventSource } from './broker.js';
import { LazyEventData } from './lazy-event-data.js';

/** Bounds checked once per event, at publish. */
export interface EventLimits {
  /** UTF-8 bytes of one event's JSON (the `event` params as sent, data included). */
  maxEventBytes: number;
  /** Nesting depth of one event's data. */
  maxValueDepth: number;
}

export const DEFAULT_EVENT_LIMITS: EventLimits = { maxEventBytes: 1024 * 1024, maxValueDepth: 64 };

/**
 * JSON of published events, made at most once per event however many subscribers and transports
 * it goes to. A WeakMap rather than a field: the event objects stay plain (a hidden field cost a
 * third more per publish) and history replies serialise them as they are.
 */
const cache = new WeakMap<BrokerEvent, string>();

function encodeFields(ev: BrokerEvent): string {
  return JSON.stringify({ topic: ev.topic, seq: ev.seq, time: ev.time, source: ev.source, data: ev.data });
}

/** @internal The broker hands over the JSON it already made while checking the event. */
export function rememberEncoding(ev: BrokerEvent, json: string): void {
  cache.set(ev, json);
}

/**
 * Check an event before it gets a seq: data nested deeper than `maxValueDepth` or that cannot be
 * encoded → INVALID_PARAMS (field `data`); JSON over `maxEventBytes` → LIMIT_EXCEEDED. Returns
 * the event's JSON when it had to be encoded to know, else the approximate bytes of plain data
 * whose size bound fits (it cannot fail to encode later; `encodeEvent` does it on first use).
 */
export function checkEvent(topic: string, seq: number, time: number, source: EventSource, data: unknown, limits: EventLimits): string | number {
  // Envelope: topic, seq, time, source (name ≤ 100 chars) — well under this.
  const envelope = topic.length + 6 * (source.name.length + source.connectionId.length) + 160;
  // Plain data first (the common case): a LazyEventData is not plain (its prototype), so it is
  // never taken for plain data here and costs this one failed walk of its two fields.
  const bound = plainJsonBound(data, limits.maxValueDepth);
  if (bound >= 0 && bound + envelope <= limits.maxEventBytes) return lastApproxBytes() + topic.length + 96;
  return checkOtherEvent(topic, seq, time, source, data, limits, envelope);
}

/**
 * The rest of `checkEvent`, apart so that its common case stays small enough to be inlined into
 * `publish` (together they were a separate call of every publish).
 */
function checkOtherEvent(
  topic: string,
  seq: number,
  time: number,
  source: EventSource,
  data: unknown,
  limits: EventLimits,
  envelope: number,
): string | number {
  if (data instanceof LazyEventData) {
    // Not built here (that is its point): the publisher bounds it; its stated size is checked.
    if (data.approxBytes + envelope <= limits.maxEventBytes) return data.approxBytes + topic.length + 96;
    data = data.toJSON();
    const built = plainJsonBound(data, limits.maxValueDepth);
    if (built >= 0 && built + envelope <= limits.maxEventBytes) return lastApproxBytes() + topic.length + 96;
  }
  const shape = inspectValue(data, limits.maxValueDepth);
  if (shape.tooDeepAt) {
    throw new IcpyError('INVALID_PARAMS', `data: nested deeper than maxValueDepth (${limits.maxValueDepth}) at data.${shape.tooDeepAt.join('.')}`, {
      field: 'data',
      path: ['data', ...shape.tooDeepAt].join('.'),
      limit: 'maxValueDepth',
      max: limits.maxValueDepth,
    });
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
  return json;
}

/** JSON of an event, computed once however many subscribers it goes to. */
export function encodeEvent(ev: BrokerEvent): string {
  let s = cache.get(ev);
  if (s === undefined) {
    s = encodeFields(ev);
    cache.set(ev, s);
  }
  return s;
}

/**
 * The JSON-RPC notification for an event on one subscription:
 * `{"jsonrpc":"2.0","method":"event","params":{"subscription":ID,"topic":…,"seq":…,…}}`.
 * Only the subscription id differs between subscribers, so it is spliced into the cached JSON.
 */
export function encodeEventNotification(subscriptionId: string, ev: BrokerEvent): string {
  return `{"jsonrpc":"2.0","method":"event","params":{"subscription":${JSON.stringify(subscriptionId)},${encodeEvent(ev).slice(1)}}`;
}
