import { z } from 'zod';
import { defineEvent } from '../../core/rpc/index.js';
import { connectionSchema } from './connections.methods.js';

export const connectionEvents = [
  defineEvent({
    topic: 'connection.opened',
    description: 'A client connected (WebSocket). The event source is the new connection.',
    data: connectionSchema,
    pathFree: true,
  }),
  defineEvent({
    topic: 'connection.closed',
    description: 'A client disconnected (closed, dropped, or failed the heartbeat).',
    data: connectionSchema.extend({ closedAt: z.number() }),
    pathFree: true,
  }),
];
