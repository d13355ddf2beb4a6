import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Broker } from '../../core/broker/index.js';
import { IcpyError, httpStatusOf, toWireError } from '../../core/errors.js';
import type { Disposable } from '../../core/lifecycle.js';
import { describeError, type Logger } from '../../core/logger.js';
import {
  encodeResult,
  handleJsonRpcText,
  type ConnectionInfo,
  type Dispatcher,
  type JsonRpcOptions,
  type MethodContext,
  type Scope,
} from '../../core/rpc/index.js';
import { bearerToken, hostAllowed, redactToken } from '../../core/security.js';
import { renderDocsPage } from './docs-page.js';
import { buildOpenApi, type ExtraPaths } from './openapi.js';
import { httpClientOf } from './http-client.js';
import { openSseStream } from './sse.js';

export interface HttpServerOptions {
  dispatcher: Dispatcher;
  broker: Broker;
  logger: Logger;
  verifyToken: (token: string | undefined) => boolean;
  scopes: ReadonlySet<Scope>;
  boundToLoopback: boolean;
  allowedHosts: readonly string[];
  maxMessageBytes: number;
  sseKeepaliveMs: number;
  sseMaxQueue: number;
  highWaterBytes: number;
  info: { title: string; version: string };
  /** Extra documented REST paths contributed by services (merged into OpenAPI). */
  extraOpenApiPaths?: () => ExtraPaths;
  /** Batch and reply bounds of the JSON-RPC codec. */
  rpc?: JsonRpcOptions;
  /** Asked before an SSE stream opens; an error (LIMIT_EXCEEDED) is the answer instead. */
  admit?: () => IcpyError | undefined;
  /** A live SSE stream registers as a connection while it is open. */
  onConnection?: (info: ConnectionInfo) => Disposable;
  /** Log one debug line per request (off unless the log level is debug: it is per-request work). */
  logRequests?: boolean;
  /** Paths (besides /api/health) that need no token. */
  publicPaths?: readonly string[];
}

function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  return reply.code(httpStatusOf(err)).type('application/json').send({ error: toWireError(err) });
}

/**
 * Fastify app: health, JSON-RPC over HTTP, one REST route per method, OpenAPI, docs, SSE.
 * Auth (Bearer header or `?token=`) guards everything but /api/health; the Host check guards all.
 */
export function createHttpServer(opts: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: opts.maxMessageBytes,
    forceCloseConnections: true,
    return503OnClosing: true,
  });
  const publicPaths = new Set(['/api/health', ...(opts.publicPaths ?? [])]);

  app.addHook('onRequest', async (req, reply) => {
    if (!hostAllowed(req.headers.host, opts.boundToLoopback, opts.allowedHosts)) {
      return sendError(reply, new IcpyError('FORBIDDEN', 'Host header not allowed (DNS rebinding guard); use localhost or configure allowedHosts'));
    }
    const path = req.url.split('?')[0]!;
    if (publicPaths.has(path)) return;
    const q = req.query as Record<string, unknown> | undefined;
    const token = bearerToken(req.headers.authorization) ?? (typeof q?.token === 'string' ? q.token : undefined);
    if (!opts.verifyToken(token)) {
      reply.header('WWW-Authenticate', 'Bearer');
      return sendError(reply, new IcpyError('UNAUTHORIZED', 'Missing or wrong token'));
    }
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
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return reply.code(415).send({ error: { code: -32600, message: 'Unsupported content type: send application/json', data: { code: 'INVALID_REQUEST' } } });
    }
    if (err.statusCode && err.statusCode < 500) {
      return reply.code(err.statusCode).send({ error: { code: -32600, message: err.message, data: { code: 'INVALID_REQUEST' } } });
    }
    opts.logger.error('http: unhandled error', describeError(err));
    return sendError(reply, err);
  });

  app.setNotFoundHandler((req, reply) => sendError(reply, new IcpyError('NOT_FOUND', `No route ${req.method} ${req.url.split('?')[0]}`)));

  // Bodies stay raw text so JSON-RPC can answer a parse error with -32700 itself.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(['application/json', 'text/plain'], { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.get('/api/health', async () => ({ status: 'ok', name: opts.info.title, version: opts.info.version }));

  const ctxFor = (req: FastifyRequest): MethodContext => ({ connection: httpClientOf(req), scopes: opts.scopes });

  app.post('/api/rpc', async (req, reply) => {
    const text = typeof req.body === 'string' ? req.body : '';
    const res = await handleJsonRpcText(opts.dispatcher, text, ctxFor(req), opts.rpc);
    if (res === undefined) return reply.code(204).send();
    return reply.type('application/json').send(res);
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
    const result = await opts.dispatcher.call(req.params.method, params, ctxFor(req));
    return reply.type('application/json').send(encodeResult(result, opts.rpc?.maxReplyBytes));
  });

  app.get('/api/openapi.json', async () => buildOpenApi(opts.dispatcher.registry, opts.info, opts.extraOpenApiPaths?.()));

  app.get('/api/docs', async (_req, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'")
      .send(renderDocsPage(opts.dispatcher.registry, opts.info.title)),
  );

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
    const info = httpClientOf(req);
    // Subscribing first lets EVENTS_GAP / bad patterns answer with a proper status code.
    const stream = openSseStream(reply.raw, {
      broker: opts.broker,
      patterns,
      since,
      keepaliveMs: opts.sseKeepaliveMs,
      maxQueue: opts.sseMaxQueue,
      highWaterBytes: opts.highWaterBytes,
    });
    reply.hijack();
    const registration = opts.onConnection?.(info);
    reply.raw.once('close', () => {
      stream.dispose();
      void registration?.dispose();
    });
  });

  return app;
}
