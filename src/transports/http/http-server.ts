import { Readable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Broker, Subscription } from '../../core/broker/index.js';
import { IcpyError, httpStatusOf, toWireError } from '../../core/errors.js';
import type { Disposable } from '../../core/lifecycle.js';
import { describeError, type Logger } from '../../core/logger.js';
import {
  encodeResult,
  encodedLength,
  type EncodedJson,
  handleJsonRpcText,
  type ConnectionInfo,
  type Dispatcher,
  type JsonRpcOptions,
} from '../../core/rpc/index.js';
import type { Authenticator } from '../../core/principal.js';
import { bearerToken, hostAllowed, originAllowed, redactToken } from '../../core/security.js';
import { sessionClearCookie, sessionSetCookie, type WebSession } from '../web-session.js';
import { HttpCallContexts, setHttpContexts, type HttpReadBudgets } from './call-context.js';
import { renderDocsPage } from './docs-page.js';
import { ASSETS_PREFIX, WebApp } from './web-app.js';
import { crossSiteRefusal } from './web-guard.js';
import { buildOpenApi, type ExtraPaths } from './openapi.js';
import { setPrincipalOf } from './http-client.js';
import { openSseStream } from './sse.js';

export interface HttpServerOptions {
  dispatcher: Dispatcher;
  broker: Broker;
  logger: Logger;
  authenticate: Authenticator;
  boundToLoopback: boolean;
  allowedHosts: readonly string[];
  maxMessageBytes: number;
  sseKeepaliveMs: number;
  highWaterBytes: number;
  info: { title: string; version: string };
  /** Extra documented REST paths contributed by services (merged into OpenAPI). */
  extraOpenApiPaths?: () => ExtraPaths;
  /** Batch and reply bounds of the JSON-RPC codec. */
  rpc?: JsonRpcOptions;
  /** Asked before an SSE stream opens; an error (LIMIT_EXCEEDED) is the answer instead. */
  admit?: () => IcpyError | undefined;
  /**
   * A live SSE stream registers as a connection while it is open; `close` ends the stream from the
   * server side (a revoked credential: a last `closed` event, then the end of the response).
   */
  onConnection?: (info: ConnectionInfo, close: (code: number, reason: string) => void) => Disposable;
  /** Log one debug line per request (off unless the log level is debug: it is per-request work). */
  logRequests?: boolean;
  /** Paths (besides /api/health and /) that need no token. */
  publicPaths?: readonly string[];
  /** Bounds on file bytes read at once; absent = unbounded. */
  readBudgets?: HttpReadBudgets;
  /** Origins besides the server's own whose cookie-authenticated requests may change state. */
  allowedOrigins?: readonly string[];
  /** The owner's browser session cookie; absent = no cookie is given out or accepted. */
  session?: WebSession;
  /** The built web workspace (dist/web/); absent or without index.html = `/` answers 503. */
  webDir?: string;
}

/** `?token=…` for links from a page that was opened with that token. */
const tokenQuery = (token: string) => `?token=${encodeURIComponent(token)}`;

/** Strict CSP for the pages icpy renders itself: no script at all, styles inline only. */
export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Clears the session cookie. */
export const LOGOUT_PATH = '/api/session/logout';

const isRpcPath = (url: string) => url.startsWith('/api/rpc') && (url.length === 8 || url[8] === '/' || url[8] === '?');

/**
 * Errors on /api/rpc and /api/rpc/{method} are JSON-RPC envelopes (`{"jsonrpc":"2.0","id":null,
 * "error":{…}}`), whatever failed (auth, content type, size, routing); elsewhere `{error}`.
 */
function sendError(reply: FastifyReply, err: unknown, status = httpStatusOf(err)): FastifyReply {
  const error = toWireError(err);
  const body = isRpcPath(reply.request.url) ? { jsonrpc: '2.0', id: null, error } : { error };
  return reply.code(status).type('application/json').send(body);
}

/** The explicit token of a request (Bearer header, else `?token=`), or undefined; the cookie is not one. */
function tokenOf(req: FastifyRequest): string | undefined {
  const q = req.query as Record<string, unknown> | undefined;
  return bearerToken(req.headers.authorization) ?? (typeof q?.token === 'string' ? q.token : undefined);
}

/**
 * Fastify app: the web workspace, health, JSON-RPC over HTTP, one REST route per method, OpenAPI,
 * docs, SSE. Auth (Bearer header or `?token=`, else the session cookie under the cross-site rules
 * of web-guard.ts) guards everything but /api/health, the app's page and assets, and the public
 * paths given; the Host check guards all.
 */
export function createHttpServer(opts: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: opts.maxMessageBytes,
    forceCloseConnections: true,
    return503OnClosing: true,
  });
  const publicPaths = new Set(['/api/health', '/', LOGOUT_PATH, ...(opts.publicPaths ?? [])]);
  const allowedOrigins = opts.allowedOrigins ?? [];
  const web = new WebApp(opts.webDir);
  const contexts = new HttpCallContexts(opts.readBudgets);
  setHttpContexts(app, contexts);

  app.addHook('onRequest', async (req, reply) => {
    if (!hostAllowed(req.headers.host, opts.boundToLoopback, opts.allowedHosts)) {
      return sendError(reply, new IcpyError('FORBIDDEN', 'Host header not allowed (DNS rebinding guard); use localhost or configure allowedHosts'));
    }
    const path = req.url.split('?')[0]!;
    if (publicPaths.has(path) || path.startsWith(ASSETS_PREFIX)) return;
    // An explicit token decides alone (a wrong one is 401 whatever cookie comes with it); only
    // without one does the session cookie count, and then under the cross-site rules.
    const token = tokenOf(req);
    const cookie = token === undefined ? opts.session?.authenticate(req.headers.cookie, req.headers.host) : undefined;
    const principal = cookie ?? opts.authenticate(token);
    if (!principal) {
      reply.header('WWW-Authenticate', 'Bearer');
      return sendError(reply, new IcpyError('UNAUTHORIZED', 'Missing or wrong token'));
    }
    if (cookie) {
      const refusal = crossSiteRefusal(req, isRpcPath(req.url), allowedOrigins);
      if (refusal) return sendError(reply, refusal.error, refusal.status);
    }
    setPrincipalOf(req, principal);
  });

  if (opts.logRequests) {
    app.addHook('onResponse', async (req, reply) => {
      opts.logger.debug('http', { method: req.method, url: redactToken(req.url), status: reply.statusCode, ms: Math.round(reply.elapsedTime) });
    });
  }

  app.setErrorHandler((err: Error & { code?: string; statusCode?: number }, _req, reply) => {
    if (err instanceof IcpyError) return sendError(reply, err);
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendError(reply, new IcpyError('MESSAGE_TOO_LARGE', `Body exceeds the limit of ${opts.maxMessageBytes} bytes`, { limit: opts.maxMessageBytes }));
    }
    if (err.statusCode && err.statusCode < 500) {
      return sendError(reply, new IcpyError('INVALID_REQUEST', err.message), err.statusCode);
    }
    opts.logger.error('http: unhandled error', describeError(err));
    return sendError(reply, err);
  });

  app.setNotFoundHandler((req, reply) => sendError(reply, new IcpyError('NOT_FOUND', `No route ${req.method} ${req.url.split('?')[0]}`)));

  // Bodies stay raw text so JSON-RPC can answer a parse error with -32700 itself. Any content type
  // is read as JSON (curl -d sends a form type): every credential icpy accepts is explicit (a
  // Bearer header or ?token=), which a cross-site page cannot attach, so a "simple" cross-site
  // request never arrives authenticated. A future ambient credential (a session cookie) must
  // require application/json on these routes (docs/protocol.md, "Content types").
  app.removeAllContentTypeParsers();
  const asText = (_req: FastifyRequest, body: string | Buffer, done: (err: null, body: string | Buffer) => void) => done(null, body);
  app.addContentTypeParser('*', { parseAs: 'string' }, asText);
  // Every type again as a RegExp, which Fastify caches by the header's string (the '*' catch-all
  // is found by parsing the header anew per request); '*' stays for a body with no Content-Type.
  app.addContentTypeParser(/^/, { parseAs: 'string' }, asText);

  app.get('/api/health', async () => ({ status: 'ok', name: opts.info.title, version: opts.info.version }));

  // The printed URL: a valid owner token becomes the session cookie and leaves the address bar
  // (303 to `/`); anything else just gets the page, which tells how to get in.
  app.get('/', async (req, reply) => {
    const q = (req.query as Record<string, unknown> | undefined)?.token;
    if (opts.session && typeof q === 'string' && opts.session.isOwnerToken(q)) {
      return reply
        .code(303)
        .header('Location', '/')
        .header('Set-Cookie', sessionSetCookie(opts.session.mint(), req.protocol === 'https', req.headers.host))
        .header('Cache-Control', 'no-store')
        .header('Referrer-Policy', 'no-referrer')
        .send();
    }
    return web.sendIndex(req, reply);
  });

  app.get<{ Params: { '*': string } }>(`${ASSETS_PREFIX}*`, async (req, reply) => {
    const sent = await web.sendAsset(req.params['*'], req, reply);
    if (sent === undefined) throw new IcpyError('NOT_FOUND', `No asset ${req.url.split('?')[0]}`);
    return sent;
  });

  // Public, so that a stale cookie (the token changed) can be cleared too; a foreign Origin is
  // refused, so another site cannot log the browser out.
  app.post(LOGOUT_PATH, async (req, reply) => {
    const origin = req.headers.origin;
    if (origin !== undefined && !originAllowed(origin, req.headers.host, allowedOrigins)) {
      throw new IcpyError('FORBIDDEN', 'Origin not allowed (cross-site request guard)', { reason: 'origin' });
    }
    return reply.code(204).header('Set-Cookie', sessionClearCookie(req.protocol === 'https', req.headers.host)).header('Cache-Control', 'no-store').send();
  });

  app.post('/api/rpc', async (req, reply) => {
    const text = typeof req.body === 'string' ? req.body : '';
    const res = await handleJsonRpcText(opts.dispatcher, text, contexts.spreadable(req, reply), opts.rpc);
    if (res === undefined) return reply.code(204).send();
    return sendJson(reply, res);
  });

  app.post<{ Params: { method: string } }>('/api/rpc/:method', async (req, reply) => {
    const text = typeof req.body === 'string' ? req.body.trim() : '';
    let params: unknown = {};
    if (text) {
      try {
        params = JSON.parse(text);
      } catch {
        throw new IcpyError('PARSE_ERROR', 'Body is not valid JSON');
      }
    }
    // A read's budget is held until its result is encoded (see MethodContext.retainUntilEncoded).
    const held: (() => void)[] = [];
    const ctx = { ...contexts.spreadable(req, reply), retainUntilEncoded: (fn: () => void) => held.push(fn) };
    try {
      const result = await opts.dispatcher.call(req.params.method, params, ctx);
      return sendJson(reply, await encodeResult(result, opts.rpc?.maxReplyBytes));
    } finally {
      for (const fn of held) fn();
    }
  });

  app.get('/api/openapi.json', async () => buildOpenApi(opts.dispatcher.registry, opts.info, opts.extraOpenApiPaths?.()));

  app.get('/api/docs', async (req, reply) => {
    const token = tokenOf(req);
    // Links carry the token only when the page itself was opened with ?token= (a Bearer caller
    // has its own header; a link must not copy a header's token into a URL).
    const viaQuery = token !== undefined && bearerToken(req.headers.authorization) === undefined;
    return reply
      .type('text/html; charset=utf-8')
      .header('Content-Security-Policy', PAGE_CSP)
      .header('Referrer-Policy', 'no-referrer')
      .header('Cache-Control', 'no-store')
      .send(renderDocsPage(opts.dispatcher.registry, opts.info.title, viaQuery ? tokenQuery(token) : ''));
  });

  app.get<{ Querystring: { patterns?: string | string[]; since?: string } }>('/api/events', async (req, reply) => {
    // `?patterns=a&patterns=b` arrives as an array; the broker checks the patterns and their count.
    const rawPatterns = req.query.patterns ?? '**';
    const patterns = (Array.isArray(rawPatterns) ? rawPatterns.join(',') : rawPatterns).split(',').map((p) => p.trim()).filter(Boolean);
    const lastId = req.headers['last-event-id'];
    const sinceRaw = typeof lastId === 'string' && lastId !== '' ? lastId : req.query.since;
    let since: number | undefined;
    if (sinceRaw !== undefined && sinceRaw !== '') {
      since = Number(sinceRaw);
      if (!Number.isInteger(since) || since < 0) throw new IcpyError('INVALID_PARAMS', 'since: must be a non-negative integer', { field: 'since' });
    }
    const refusal = opts.admit?.();
    if (refusal) throw refusal;
    const ctx = contexts.spreadable(req, reply);
    // Subscribing first lets EVENTS_GAP / bad patterns / FORBIDDEN answer with a status code.
    const stream = await openSseStream(reply.raw, {
      subscribe: (deliver, onLag) => opts.dispatcher.run<Subscription>('events.stream', { patterns, since, deliver, onLag }, ctx),
      keepaliveMs: opts.sseKeepaliveMs,
      highWaterBytes: opts.highWaterBytes,
    });
    reply.hijack();
    const res = reply.raw;
    const registration = opts.onConnection?.(ctx.connection, (code, reason) => {
      if (!res.writableEnded) res.write(`event: closed\ndata: ${JSON.stringify({ code, reason })}\n\n`);
      stream.dispose();
    });
    reply.raw.once('close', () => {
      stream.dispose();
      void registration?.dispose();
    });
  });

  return app;
}

/**
 * Send an encoded JSON text. One in pieces (a large reply) is streamed piece by piece with its
 * Content-Length, never joined into one buffer (see EncodedJson).
 */
function sendJson(reply: FastifyReply, text: EncodedJson): FastifyReply {
  reply.type('application/json');
  if (typeof text === 'string') return reply.send(text);
  if (text.length === 1) return reply.send(text[0]);
  return reply.header('content-length', encodedLength(text)).send(Readable.from(text, { objectMode: false }));
}
