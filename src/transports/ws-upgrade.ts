import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { clientKindOf, clientNameOf } from '../core/broker/index.js';
import { IcpyError, toWireError } from '../core/errors.js';
import { describeError, type Logger } from '../core/logger.js';
import { MessageTurns } from '../core/message-turns.js';
import type { Authenticator, Principal } from '../core/principal.js';
import type { ConnectionInfo } from '../core/rpc/index.js';
import { bearerToken, hostAllowed, originAllowed, redactToken } from '../core/security.js';
import type { WebSession } from './web-session.js';

/**
 * What every WebSocket endpoint (/api/ws, /api/yjs, /api/lsp) does alike before a socket is its
 * own: the upgrade checks in one order — Host (HTTP 403), Origin (HTTP 403, whatever the token),
 * admission (`maxConnections`, HTTP 429), then the token (close 4401; without one, the session
 * cookie, which also needs an Origin header: HTTP 403 without) — the connection's identity
 * from `?kind=&name=`, the heartbeat, and closing with a bounded reason.
 */
export interface UpgradeRules {
  authenticate: Authenticator;
  boundToLoopback: boolean;
  allowedHosts: readonly string[];
  allowedOrigins: readonly string[];
  admit?: () => IcpyError | undefined;
  logger: Logger;
  /** The owner's browser session cookie, accepted when no token is given. */
  session?: WebSession;
}

/** Close code of a missing or wrong token, on every endpoint. */
export const UNAUTHORIZED_CLOSE = 4401;

/**
 * Check an upgrade and, when it passes, accept it and check the token. `onOpen` gets the socket,
 * the connection's identity (a fresh id, `?kind=` and `?name=` bounded; an agent credential's
 * connections are always kind `agent`, named after the credential) and the principal; a bad token
 * is closed with 4401 before `onOpen` would run. `label` names the endpoint in log lines.
 */
export function acceptUpgrade(
  wss: WebSocketServer,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  rules: UpgradeRules,
  label: string,
  onOpen: (ws: WebSocket, info: ConnectionInfo, url: URL, principal: Principal) => void,
): void {
  const host = req.headers.host;
  const origin = req.headers.origin;
  if (!hostAllowed(host, rules.boundToLoopback, rules.allowedHosts)) return refuse(socket, 403, 'Host not allowed');
  if (!originAllowed(origin, host, rules.allowedOrigins)) {
    rules.logger.warn(`${label}: refused upgrade from foreign origin`, { origin });
    return refuse(socket, 403, 'Origin not allowed');
  }
  const url = new URL(req.url ?? '/', 'http://x');
  const token = url.searchParams.get('token') ?? bearerToken(req.headers.authorization);
  // The cookie is ambient: a page from anywhere could open a socket that carries it. The Origin
  // check above refused foreign origins; a browser always sends Origin on an upgrade, so a cookie
  // without one is not a page of this server.
  const cookie = token === null || token === undefined ? rules.session?.authenticate(req.headers.cookie, req.headers.host) : undefined;
  if (cookie && origin === undefined) {
    rules.logger.warn(`${label}: refused cookie upgrade without Origin`);
    return refuse(socket, 403, 'An upgrade authenticated by the session cookie needs an Origin header');
  }
  const refusal = rules.admit?.();
  if (refusal) {
    rules.logger.warn(`${label}: refused upgrade`, { reason: refusal.message });
    return refuse(socket, refusal.httpStatus, refusal.message, JSON.stringify({ error: toWireError(refusal) }));
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    const principal = cookie ?? rules.authenticate(token);
    if (!principal) {
      rules.logger.info(`${label}: unauthorized`, { url: redactToken(req.url ?? '') });
      return closeSoon(ws, UNAUTHORIZED_CLOSE, 'Unauthorized');
    }
    const id = `c-${randomUUID().slice(0, 8)}`;
    const info = connectionIdentity(id, 'ws', principal, url.searchParams.get('kind'), url.searchParams.get('name'), 'browser', req.socket.remoteAddress);
    onOpen(ws, info, url, principal);
  });
}

/**
 * A connection's identity from what it claims (`kind`, `name`) and who it authenticated as. The
 * owner may claim any kind (a browser, the CLI, an agent acting with the owner's token); an agent
 * credential's connections are kind `agent` and carry the credential's name, whatever they claim.
 */
export function connectionIdentity(
  id: string,
  transport: ConnectionInfo['transport'],
  principal: Principal,
  claimedKind: unknown,
  claimedName: unknown,
  fallbackKind: 'browser' | 'cli' | 'agent',
  remoteAddress?: string,
): ConnectionInfo {
  const agent = principal.kind === 'agent';
  const kind = agent ? 'agent' : clientKindOf(claimedKind, fallbackKind);
  return {
    id,
    kind,
    name: agent ? principal.name : clientNameOf(claimedName, `${kind}-${id.slice(2, 6)}`),
    transport,
    principalId: principal.id,
    remoteAddress,
    connectedAt: Date.now(),
  };
}

/** A peer the heartbeat watches: `alive` is set on every pong (and message) and cleared by each beat. */
export interface Beating {
  readonly ws: WebSocket;
  alive: boolean;
}

/**
 * Ping every peer each `ms`; a peer that did not answer the previous ping is terminated (so a dead
 * peer goes within 2 × ms). `onDrop` is told first. The timer does not keep the process alive.
 */
export function startHeartbeat(ms: number, peers: () => Iterable<Beating>, onDrop?: (peer: Beating) => void): NodeJS.Timeout {
  const timer = setInterval(() => {
    for (const p of peers()) {
      if (!p.alive) {
        onDrop?.(p);
        p.ws.terminate();
        continue;
      }
      p.alive = false;
      try {
        p.ws.ping();
      } catch {
        p.ws.terminate();
      }
    }
  }, ms);
  timer.unref();
  return timer;
}

/** Longest WebSocket close reason (RFC 6455: 123 bytes of UTF-8). */
const MAX_REASON_BYTES = 123;

/** A close reason cut to 123 bytes of UTF-8 (with "..." when cut). */
export function shortReason(text: string): string {
  if (Buffer.byteLength(text) <= MAX_REASON_BYTES) return text;
  let out = text.slice(0, MAX_REASON_BYTES);
  while (Buffer.byteLength(out) > MAX_REASON_BYTES - 3) out = out.slice(0, -1);
  return out + '...';
}

/** Close now; terminate if the peer does not complete the closing handshake within a second. */
export function closeSoon(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code, shortReason(reason));
  } catch {
    ws.terminate();
    return;
  }
  setTimeout(() => ws.terminate(), 1000).unref();
}

const STATUS_TEXT: Record<number, string> = { 403: 'Forbidden', 429: 'Too Many Requests' };

/** Answer an upgrade request with an HTTP error instead of accepting it. */
export function refuse(socket: Duplex, status: number, reason: string, body = JSON.stringify({ error: reason })): void {
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * Shut an endpoint down: stop its heartbeat, close every peer with `close` (1001, its own
 * bookkeeping), wait for each socket's close (at most 2 s), then close the server.
 */
export async function shutdownEndpoint<P extends { readonly ws: WebSocket }>(
  wss: WebSocketServer,
  heartbeat: NodeJS.Timeout,
  peers: Iterable<P>,
  close: (peer: P) => void,
): Promise<void> {
  clearInterval(heartbeat);
  const closing = [...peers].map(
    (p) =>
      new Promise<void>((resolve) => {
        p.ws.once('close', () => resolve());
        close(p);
        setTimeout(resolve, 2000).unref();
      }),
  );
  await Promise.all(closing);
  await new Promise<void>((resolve) => wss.close(() => resolve()));
}

/**
 * Fair turns for one socket (core/message-turns.ts): at most `perTurn` frames start per event-loop
 * iteration, and the socket is not read while frames wait.
 */
export function pausingTurns(ws: WebSocket, perTurn: number): MessageTurns {
  return new MessageTurns(perTurn, (waiting) => {
    if (ws.readyState !== ws.OPEN) return;
    if (waiting) ws.pause();
    else ws.resume();
  });
}

/** Close code of a refusal to give a socket its resource (a room, a language server): 4000 + the error's HTTP status. */
export function refusalCode(err: IcpyError): number {
  return 4000 + err.httpStatus;
}

/**
 * How to close a socket whose resource could not be had: an IcpyError is the client's answer
 * (4000 + its HTTP status, its message; logged at debug), anything else is our bug (1011, logged).
 */
export function closeForFailure(err: unknown, logger: Logger, what: string, fields: Record<string, unknown>): { code: number; reason: string } {
  if (err instanceof IcpyError) {
    logger.debug(`${what} refused`, { ...fields, code: err.code });
    return { code: refusalCode(err), reason: err.message };
  }
  logger.error(`${what} failed`, { ...fields, ...describeError(err) });
  return { code: 1011, reason: 'Internal error' };
}
