import type { IncomingHttpHeaders } from 'node:http';
import { IcpyError } from '../../core/errors.js';
import { originAllowed } from '../../core/security.js';

/** A refusal and the HTTP status it is sent with. */
export interface Refusal {
  error: IcpyError;
  status: number;
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);

/** `application/json`, with or without parameters (`; charset=utf-8`), any case. */
export function isJsonContentType(header: string | undefined): boolean {
  return header !== undefined && header.split(';')[0]!.trim().toLowerCase() === 'application/json';
}

/**
 * Cross-site request forgery rules for a request authenticated by the session cookie (an ambient
 * credential a cross-site page could make the browser attach): anything but GET/HEAD needs an
 * Origin header that is allowed (same-origin with Host, or listed in allowedOrigins) — a missing
 * Origin is refused too, since every browser sends one on a state-changing request; and the RPC
 * routes need `Content-Type: application/json`, which no cross-site "simple" request can carry
 * without a CORS preflight icpy never grants. Requests with an explicit credential (Bearer,
 * `?token=`) never come here.
 */
export function crossSiteRefusal(
  req: { method: string; headers: IncomingHttpHeaders },
  rpcRoute: boolean,
  allowedOrigins: readonly string[],
): Refusal | undefined {
  if (SAFE_METHODS.has(req.method)) return undefined;
  const origin = req.headers.origin;
  if (origin === undefined) {
    return { error: new IcpyError('FORBIDDEN', 'A request authenticated by the session cookie must carry an Origin header (cross-site request guard)', { reason: 'origin' }), status: 403 };
  }
  if (!originAllowed(origin, req.headers.host, allowedOrigins)) {
    return { error: new IcpyError('FORBIDDEN', 'Origin not allowed for a request authenticated by the session cookie (cross-site request guard)', { reason: 'origin' }), status: 403 };
  }
  if (rpcRoute && !isJsonContentType(req.headers['content-type'])) {
    return { error: new IcpyError('INVALID_REQUEST', 'A request authenticated by the session cookie must send Content-Type: application/json on this route', { reason: 'content-type' }), status: 415 };
  }
  return undefined;
}
