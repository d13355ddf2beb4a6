import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { EventSource } from '../../core/broker/index.js';
import type { Principal } from '../../core/principal.js';
import type { ConnectionInfo } from '../../core/rpc/index.js';
import { connectionIdentity } from '../ws-upgrade.js';

/**
 * The request's principal, on the raw request under a module-private symbol (no client input can
 * name it). A WeakMap entry per request cost a set, a get and ephemeron work in every GC.
 */
const PRINCIPAL = Symbol('icpy.principal');
type WithPrincipal = FastifyRequest['raw'] & { [PRINCIPAL]?: Principal };

/** Set by the server's auth hook once the request's token is checked. */
export function setPrincipalOf(req: FastifyRequest, p: Principal): void {
  (req.raw as WithPrincipal)[PRINCIPAL] = p;
}

/** The principal an authenticated request acts for (throws on a public route: a bug). */
export function principalOf(req: FastifyRequest): Principal {
  const p = (req.raw as WithPrincipal)[PRINCIPAL];
  if (!p) throw new Error('principalOf: the request was not authenticated');
  return p;
}

/**
 * Who an HTTP request comes from: headers `X-Icpy-Client-Kind` (default cli) and
 * `X-Icpy-Client-Name` (an agent credential's requests are kind agent, named after it); each
 * request (or SSE stream) gets its own `h-…` id.
 */
export function httpClientOf(req: FastifyRequest): ConnectionInfo {
  return connectionIdentity(
    `h-${randomUUID().slice(0, 8)}`,
    'http',
    principalOf(req),
    req.headers['x-icpy-client-kind'],
    req.headers['x-icpy-client-name'],
    'cli',
    req.ip,
  );
}

/** The event source for a change made by this request. */
export function httpSourceOf(req: FastifyRequest): EventSource {
  const c = httpClientOf(req);
  return { connectionId: c.id, kind: c.kind, name: c.name };
}
