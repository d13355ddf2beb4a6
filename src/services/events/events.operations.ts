import { z } from 'zod';
import type { Broker, EventHandler, LagInfo, Subscription } from '../../core/broker/index.js';
import { defineOperation, filtersEvents, type EventVisibility } from '../../core/rpc/index.js';
import { DEFAULT_SUBSCRIPTION_QUEUE, patternsSchema } from './events.methods.js';

const fn = <T>(what: string) => z.custom<T>((v) => typeof v === 'function', { message: `${what} must be a function` });

/**
 * `events.stream`: a subscription for a transport that delivers events itself (SSE). The same
 * scope and pattern rules as events.subscribe; the subscription ends when the caller goes away
 * (ctx.signal) or when the transport disposes it. Starts paused: the transport resumes it once
 * its stream is open.
 */
export function createEventsOperations(broker: Broker, options: { maxQueue?: number; visible?: EventVisibility } = {}) {
  return [
    defineOperation({
      name: 'events.stream',
      scope: 'read',
      // Delivery is filtered below for a path-limited principal (as events.subscribe).
      pathFree: true,
      params: z.strictObject({
        // Bounds (length, segments, count) are the broker's, as for events.subscribe.
        patterns: patternsSchema,
        since: z.number().int().min(0).optional(),
        deliver: fn<EventHandler>('deliver'),
        onLag: fn<(info: LagInfo) => void>('onLag'),
      }),
      handler: (p, ctx): Subscription => {
        const principal = ctx.principal;
        const visible = filtersEvents(principal) ? options.visible : undefined;
        // As events.subscribe: delivered as is, narrowed (a copy, encoded by the transport for this
        // stream) or withheld.
        const deliver: EventHandler = visible
          ? (ev) => {
              const shown = visible(principal, ev);
              return shown ? p.deliver(shown) : true;
            }
          : p.deliver;
        const sub = broker.subscribe(p.patterns, deliver, {
          since: p.since,
          paused: true,
          maxQueue: options.maxQueue ?? DEFAULT_SUBSCRIPTION_QUEUE,
          onLag: p.onLag,
        });
        const signal = ctx.signal;
        if (signal) {
          if (signal.aborted) sub.dispose();
          else signal.addEventListener('abort', () => sub.dispose(), { once: true });
        }
        return sub;
      },
    }),
  ];
}
