import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { clientKindOf, clientNameOf, type EventSource } from '../../core/broker/index.js';
import type { ConnectionInfo } from '../../core/rpc/index.js';

/**
 * Who an HTTP request comes from: headers `X-Icpy-Client-Kind` (default cli) and
 * `X-Icpy-Client-Name`; each request (or SSE stream) gets its own `h-…` id.
 */
export function httpClientOf(req: FastifyRequest): ConnectionInfo {
  const kind = clientKindOf(req.headers['x-icpy-client-kind'], 'cli');
  return {
    id: `h-${randomUUID().slice(0, 8)}`,
    kind,
    name: clientNameOf(req.headers['x-icpy-client-name'], `${kind}-http`),
    transport: 'http',
    remoteAddress: req.ip,
    connectedAt: Date.now(),
  };
}

/** The event source for a change made by this request. */
export function httpSourceOf(req: FastifyRequest): EventSource {
  const c = httpClientOf(req);
  return { connectionId: c.id, kind: c.kind, name: c.name };
}
