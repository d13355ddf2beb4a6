import { z } from 'zod';
import { defineEvent } from '../../core/rpc/index.js';

/** Notifications about the event stream itself (sent to one connection, not via the log). */
export const eventsLagged = defineEvent({
  topic: 'events.lagged',
  description:
    'Sent as a JSON-RPC notification (method "events.lagged") to a connection whose subscription was dropped because it fell too far behind. Resubscribe with since = lastDeliveredSeq.',
  data: z.object({ subscription: z.string(), lastDeliveredSeq: z.number().int(), reason: z.string() }),
  pathFree: true,
});
