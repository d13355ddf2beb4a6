import type { BrokerEvent } from './broker.js';

const cache = new WeakMap<BrokerEvent, string>();

/** JSON of an event, computed once however many subscribers it goes to. */
export function encodeEvent(ev: BrokerEvent): string {
  let s = cache.get(ev);
  if (s === undefined) {
    s = JSON.stringify({ topic: ev.topic, seq: ev.seq, time: ev.time, source: ev.source, data: ev.data });
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
