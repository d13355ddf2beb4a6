import { z } from 'zod';
import { encodeEventNotification, type Broker, type Subscription } from '../../core/broker/index.js';
import { IcpyError } from '../../core/errors.js';
import { defineMethod, filtersEvents, sourceOf, whenReplied, type EventVisibility, type MethodContext, type Session } from '../../core/rpc/index.js';

const eventSchema = z.object({
  topic: z.string(),
  seq: z.number().int(),
  time: z.number(),
  source: z.object({ connectionId: z.string(), kind: z.enum(['browser', 'cli', 'agent', 'system']), name: z.string() }),
  data: z.unknown(),
});

// Length, segments and count are checked by the broker (one rule for WS, HTTP and SSE), so a bad
// pattern is INVALID_PARAMS naming `patterns.<i>` and too many are LIMIT_EXCEEDED.
const pattern = z.string().describe("Dotted topic pattern; '*' = one segment, '**' = any number (see Limits for bounds)");
const patterns = z.array(pattern).min(1);

/** Default queue bound (events) for one subscription whose connection is not reading. */
export const DEFAULT_SUBSCRIPTION_QUEUE = 10_000;

export interface EventsMethodsOptions {
  maxQueue?: number;
  limits?: { maxSubscriptionsPerConnection?: number };
  /**
   * Which events a principal may receive, and how much of each (path limits, issue 13); absent =
   * all. Withheld events are skipped, so a path-limited subscriber sees gaps in `seq`; a narrowed
   * one keeps its topic, seq, time and source, only its data differs.
   */
  visible?: EventVisibility;
}

export function createEventsMethods(broker: Broker, options: EventsMethodsOptions = {}) {
  const maxSubs = options.limits?.maxSubscriptionsPerConnection ?? 64;
  /** Live subscriptions per connection (a session's handles also hold other resources). */
  const subsOf = new WeakMap<Session, Set<Subscription>>();

  const subscribe = defineMethod({
    name: 'events.subscribe',
    description:
      'Subscribe this connection to events whose topic matches any pattern. With `since`, kept events after that seq are replayed first, then live ones follow with no gap and no duplicate. Returns the subscription id; events arrive as `event` notifications carrying it. If `since` is older than kept history the call fails with EVENTS_GAP (data.oldestSeq) so the client can resync.',
    params: z.strictObject({
      patterns,
      since: z.number().int().min(0).optional().describe('Replay events with seq > since'),
    }),
    result: z.string().describe('Subscription id'),
    scope: 'read',
    pathFree: true,
    requiresSession: true,
    examples: [
      { params: { patterns: ['fs.**', 'workspace.**'] }, result: 's1' },
      { name: 'resume', description: 'Replay what was missed after seq 120, then live events', params: { patterns: ['**'], since: 120 }, result: 's2' },
    ],
    handler: ({ patterns, since }, ctx: MethodContext) => {
      const session = ctx.session!;
      let mine = subsOf.get(session);
      if (!mine) subsOf.set(session, (mine = new Set()));
      if (mine.size >= maxSubs) {
        throw new IcpyError('LIMIT_EXCEEDED', `This connection holds ${mine.size} subscriptions, the maximum (maxSubscriptionsPerConnection = ${maxSubs}); unsubscribe first`, {
          limit: 'maxSubscriptionsPerConnection',
          max: maxSubs,
        });
      }
      let sub: Subscription | undefined;
      const principal = ctx.principal;
      const visible = filtersEvents(principal) ? options.visible : undefined;
      const handler = (ev: Parameters<Parameters<Broker['subscribe']>[1]>[0]) => {
        // The owner, unlimited principals and events wholly inside the limits share the event's
        // one encoding; a narrowed copy is encoded for this subscriber only.
        const shown = visible ? visible(principal, ev) : ev;
        if (!shown) return true;
        const ok = session.sendFrame(encodeEventNotification(sub!.id, shown));
        if (!ok) session.onWritable(() => sub!.resume());
        return ok;
      };
      sub = broker.subscribe(patterns, handler, {
        since,
        paused: true,
        maxQueue: options.maxQueue ?? DEFAULT_SUBSCRIPTION_QUEUE,
        onLag: (info) => {
          session.handles.delete(info.subscriptionId);
          mine.delete(sub!);
          session.notify('events.lagged', {
            subscription: info.subscriptionId,
            lastDeliveredSeq: info.lastDeliveredSeq,
            reason: `connection fell more than ${info.queued} events behind; resubscribe with since=${info.lastDeliveredSeq}`,
          });
        },
      });
      const id = sub.id;
      const owned = sub;
      mine.add(owned);
      // The session disposes its handles when the connection closes.
      session.handles.set(id, {
        dispose: () => {
          mine.delete(owned);
          owned.dispose();
        },
      });
      whenReplied(ctx, () => sub!.resume());
      return id;
    },
  });

  const unsubscribe = defineMethod({
    name: 'events.unsubscribe',
    description: 'Stop a subscription made on this connection.',
    params: z.strictObject({ subscription: z.string().min(1) }),
    result: z.object({ unsubscribed: z.boolean() }),
    scope: 'read',
    pathFree: true,
    requiresSession: true,
    handler: ({ subscription }, ctx) => {
      const h = ctx.session!.handles.get(subscription);
      if (!h) throw new IcpyError('SUBSCRIPTION_NOT_FOUND', `No subscription '${subscription}' on this connection`, { subscription });
      ctx.session!.handles.delete(subscription);
      h.dispose();
      return { unsubscribed: true };
    },
  });

  const status = defineMethod({
    name: 'events.status',
    description: "The event log's state: epoch (changes when seq restarts), last seq, oldest kept seq, history size.",
    params: z.strictObject({}),
    result: z.object({
      epoch: z.string(),
      lastSeq: z.number().int(),
      oldestSeq: z.number().int(),
      historyEvents: z.number().int(),
      historyBytes: z.number(),
      subscriptions: z.number().int(),
    }),
    scope: 'read',
    pathFree: true,
    handler: () => broker.stats(),
  });

  const history = defineMethod({
    name: 'events.history',
    description: 'Kept events with seq > since matching the patterns (all when omitted), oldest first, at most `limit`. EVENTS_GAP when since is older than kept history.',
    params: z.strictObject({
      since: z.number().int().min(0),
      patterns: patterns.optional(),
      limit: z.number().int().min(1).max(10_000).default(1000),
    }),
    result: z.object({ events: z.array(eventSchema), lastSeq: z.number().int(), more: z.boolean() }),
    scope: 'read',
    pathFree: true,
    examples: [
      {
        params: { since: 41, patterns: ['fs.file.*'], limit: 1 },
        result: {
          events: [
            {
              topic: 'fs.file.changed',
              seq: 42,
              time: 1_767_225_600_000,
              source: { connectionId: 'c7', kind: 'agent', name: 'mover' },
              data: { paths: ['src/app.py'] },
            },
          ],
          lastSeq: 57,
          more: true,
        },
      },
    ],
    handler: ({ since, patterns, limit }, ctx) => {
      const visible = filtersEvents(ctx.principal) ? options.visible : undefined;
      let all = broker.history(since, patterns);
      if (visible) {
        const shown: typeof all = [];
        for (const ev of all) {
          const v = visible(ctx.principal, ev);
          if (v) shown.push(v);
        }
        all = shown;
      }
      return { events: all.slice(0, limit), lastSeq: broker.stats().lastSeq, more: all.length > limit };
    },
  });

  const emit = defineMethod({
    name: 'events.emit',
    description:
      "Publish an application event. Topics must start with 'client.' so clients cannot forge server events; the event's source is the calling connection.",
    params: z.strictObject({
      topic: z.string().regex(/^client(\.[A-Za-z0-9_\-:@$]+)+$/, "must start with 'client.' and be dotted segments"),
      data: z.unknown().optional().describe('Any JSON value; default null'),
    }),
    result: z.object({ seq: z.number().int() }),
    scope: 'write',
    pathFree: true,
    examples: [{ params: { topic: 'client.build.finished', data: { ok: true } }, result: { seq: 58 } }],
    handler: ({ topic, data }, ctx) => ({ seq: broker.publish(topic, data ?? null, sourceOf(ctx)).seq }),
  });

  return [subscribe, unsubscribe, status, history, emit];
}

export { eventSchema, patterns as patternsSchema };
