import { z } from 'zod';
import { defineMethod } from '../../core/rpc/index.js';
import type { ConnectionManager } from './connection-manager.js';

export const connectionSchema = z.object({
  id: z.string(),
  kind: z.enum(['browser', 'cli', 'agent', 'system']),
  name: z.string(),
  transport: z.enum(['ws', 'http', 'cli', 'mcp', 'internal']),
  connectedAt: z.number(),
});

export function createConnectionsMethods(connections: ConnectionManager) {
  return [
    defineMethod({
      name: 'connections.list',
      description: 'Every live connection (WebSocket clients: browsers, CLIs, agents) with its kind and display name.',
      params: z.strictObject({}),
      result: z.array(connectionSchema.extend({ subscriptions: z.number().int() })),
      scope: 'read',
      pathFree: true,
      handler: () => connections.list(),
    }),
    defineMethod({
      name: 'connections.whoami',
      description: 'The calling connection as the server sees it (id, kind, name, transport).',
      params: z.strictObject({}),
      result: connectionSchema,
      scope: 'read',
      pathFree: true,
      handler: (_p, ctx) => ({
        id: ctx.connection.id,
        kind: ctx.connection.kind,
        name: ctx.connection.name,
        transport: ctx.connection.transport,
        connectedAt: ctx.connection.connectedAt,
      }),
    }),
  ];
}
