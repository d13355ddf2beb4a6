import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { BudgetLease } from '../../core/byte-budget.js';
import { IcpyError, toWireError, httpStatusOf } from '../../core/errors.js';
import type { Dispatcher, MethodContext } from '../../core/rpc/index.js';
import { httpContextsOf } from './call-context.js';
import type { ExtraPaths } from './openapi.js';

/** PUT bodies up to this size (with a Content-Length) are collected before writing. */
const SMALL_BODY_BYTES = 256 * 1024;

/**
 * The whole body of a small PUT. Listeners, not `for await`: the stream's async iterator (a
 * promise per chunk plus the listeners of stream.finished) was a measurable part of a 4 KB PUT,
 * the REST write of bench/files `mixed` (issue 9). Rejects when the client goes away first.
 */
function readWhole(stream: Readable, expected: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const done = (err: Error | undefined) => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', done);
      stream.off('close', onClose);
      if (err) reject(err);
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, n));
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      n += c.length;
      if (n > expected) done(new IcpyError('INVALID_REQUEST', 'Body is longer than its Content-Length'));
    };
    const onEnd = () => done(undefined);
    const onClose = () => done(Object.assign(new Error('The client went away before the whole body arrived'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', done);
    stream.once('close', onClose);
  });
}

/** What `files.rest.open` returns (FileService.openForRead). */
export interface OpenedFile {
  rel: string;
  size: number;
  mtime: number;
  version: string;
  /** The bytes (whole, or the inclusive range); call at most once. */
  stream(range?: { start: number; end: number }): Readable | Buffer;
  /** Release the file when stream() will not be called. */
  close(): void;
}

/**
 * Bytes a streamed GET reserves of the read budget while it streams: a stream holds about one
 * read chunk plus the socket's buffer in memory, not the whole file. A body sent whole (up to
 * this size it is read into memory) reserves its length.
 */
export const STREAM_RESERVE_BYTES = 256 * 1024;

const TYPES: Record<string, string> = {
  txt: 'text/plain; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  log: 'text/plain; charset=utf-8',
  py: 'text/x-python; charset=utf-8',
  ts: 'text/plain; charset=utf-8',
  tsx: 'text/plain; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  json: 'application/json',
  html: 'text/html; charset=utf-8',
  htm: 'text/html; charset=utf-8',
  xml: 'application/xml',
  svg: 'image/svg+xml',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  ico: 'image/x-icon',
  pdf: 'application/pdf',
  wasm: 'application/wasm',
  zip: 'application/zip',
  gz: 'application/gzip',
  mp3: 'audio/mpeg',
  mp4: 'video/mp4',
  webm: 'video/webm',
  wav: 'audio/wav',
  woff2: 'font/woff2',
  ipynb: 'application/json',
  yaml: 'text/yaml; charset=utf-8',
  yml: 'text/yaml; charset=utf-8',
  toml: 'text/plain; charset=utf-8',
  sh: 'text/plain; charset=utf-8',
};
/** Types a browser would execute or render with script: always served as downloads. */
const ACTIVE = /^(text\/html|image\/svg\+xml|application\/xml|application\/xhtml\+xml|text\/xml)/;

export function contentTypeOf(path: string): string {
  const ext = path.includes('.') ? path.slice(path.lastIndexOf('.') + 1).toLowerCase() : '';
  // own keys only: a file named x.constructor or x.__proto__ must not pick up Object.prototype
  return (Object.hasOwn(TYPES, ext) ? TYPES[ext] : undefined) ?? 'application/octet-stream';
}

/** Last-Modified strings by mtime second: a file read again keeps its mtime (bounded; cleared when full). */
const httpDates = new Map<number, string>();
const MAX_HTTP_DATES = 1024;

/** The HTTP date (second resolution) of an mtime in ms; formatting one was a visible part of a 4 KB GET. */
export function httpDateOf(mtimeMs: number): string {
  const sec = Math.floor(mtimeMs / 1000);
  let s = httpDates.get(sec);
  if (s === undefined) {
    if (httpDates.size >= MAX_HTTP_DATES) httpDates.clear();
    s = new Date(sec * 1000).toUTCString();
    httpDates.set(sec, s);
  }
  return s;
}

function etagOf(version: string): string {
  return `"${version}"`;
}

/** `"v"`, `W/"v"` → v; `*` stays `*`. */
function parseEtagList(h: string | undefined): string[] | undefined {
  if (!h) return undefined;
  return h.split(',').map((s) => s.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1'));
}

function parseRange(h: string, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(h.trim());
  if (!m) return undefined; // multi-range or malformed: ignored, the whole file is sent
  const [, a, b] = m;
  if (a === '' && b === '') return undefined;
  let start: number;
  let end: number;
  if (a === '') {
    const n = Number(b);
    if (n === 0) return 'unsatisfiable';
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}

function sendError(reply: FastifyReply, err: unknown, status?: number): FastifyReply {
  return reply
    .code(status ?? httpStatusOf(err))
    .type('application/json')
    .send({ error: toWireError(err) });
}

/** Answer a HEAD with the GET's headers (Fastify would replace Content-Length by the empty body's). */
function headOnly(reply: FastifyReply, status: number, close: () => void): FastifyReply {
  close();
  reply.hijack();
  reply.raw.writeHead(status, reply.getHeaders() as Record<string, string>);
  reply.raw.end();
  return reply;
}

function pathParam(req: FastifyRequest): string {
  return (req.params as { '*': string })['*'] ?? '';
}

function flag(v: unknown): boolean {
  return v === '1' || v === 'true' || v === '';
}

/** Hold `lease` until the response ends or is cut (a streamed body holds it while it streams). */
function holdUntilDone(reply: FastifyReply, lease: BudgetLease | undefined): void {
  if (!lease || lease.bytes === 0) return;
  // Already closed (the client went away while the read was granted: the lazy signal was never
  // asked for): 'close' will not come again.
  if (reply.raw.closed) lease.release();
  else reply.raw.once('close', () => lease.release());
}

/**
 * REST for raw file bytes: GET (streamed, ETag, Range, safe Content-Type), PUT (streamed to disk,
 * If-Match / If-None-Match), DELETE. Registered in its own Fastify scope so PUT can take any
 * body as a stream without the JSON parsers or the message-size limit of the RPC routes.
 *
 * Each route only translates: HTTP → params of a declared call (`files.rest.open`,
 * `files.rest.put`, `files.stat`, `files.delete`) run by the Dispatcher with the request's call
 * context (scopes, signal, read budget), and the result → status and headers.
 */
export function registerFilesRoutes(app: FastifyInstance, dispatcher: Dispatcher): { openApi: ExtraPaths } {
  const contexts = httpContextsOf(app);
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    const passStream = (_req: FastifyRequest, payload: Readable, done: (err: null, body: Readable) => void) => done(null, payload);
    scope.addContentTypeParser('*', passStream);
    // The same for every type, as a RegExp: Fastify caches the parser it finds through a RegExp by
    // the header's exact string, but finds the '*' catch-all by parsing the header anew on every
    // request (a ContentType per PUT, bench/files `mixed`, issue 9). '*' stays for what the
    // RegExp cannot see (no Content-Type at all).
    scope.addContentTypeParser(/^/, passStream);

    scope.get('/api/files/*', async (req, reply) => {
      const q = req.query as Record<string, string | undefined>;
      const ctx = contexts.of(req, reply);
      if (q.stat !== undefined && flag(q.stat)) {
        // The REST stat: files.stat's answer as JSON, for files and folders (like Jupyter's
        // GET /api/contents/P?content=0), one GET with no body to parse.
        try {
          const st = (await dispatcher.call('files.stat', { path: pathParam(req) }, ctx)) as { version: string };
          return reply.header('ETag', etagOf(st.version)).header('Cache-Control', 'no-cache').type('application/json').send(JSON.stringify(st));
        } catch (err) {
          return sendError(reply, err);
        }
      }
      let f: OpenedFile;
      try {
        f = await dispatcher.run<OpenedFile>('files.rest.open', { path: pathParam(req), contents: req.method !== 'HEAD' }, ctx);
      } catch (err) {
        return sendError(reply, err);
      }
      const etag = etagOf(f.version);
      const type = contentTypeOf(f.rel);
      const name = f.rel.split('/').pop() || 'file';
      const download = ACTIVE.test(type) || flag(q.download);
      reply
        .header('ETag', etag)
        .header('Last-Modified', httpDateOf(f.mtime))
        .header('Accept-Ranges', 'bytes')
        .header('Cache-Control', 'no-cache')
        .header('X-Content-Type-Options', 'nosniff')
        .header('Content-Security-Policy', "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'")
        .header('Cross-Origin-Resource-Policy', 'same-origin')
        .header('Content-Disposition', `${download ? 'attachment' : 'inline'}; filename*=UTF-8''${encodeURIComponent(name)}`)
        .type(type);
      const inm = parseEtagList(req.headers['if-none-match']);
      if (inm && (inm.includes(f.version) || inm.includes('*'))) {
        f.close();
        return reply.code(304).send();
      }
      const rangeHeader = req.headers.range;
      const ifRange = req.headers['if-range'] as string | undefined;
      const rangeApplies = rangeHeader && (!ifRange || parseEtagList(ifRange)?.[0] === f.version);
      let range: { start: number; end: number } | undefined;
      if (rangeApplies) {
        const r = parseRange(rangeHeader, f.size);
        if (r === 'unsatisfiable') {
          f.close();
          return reply.code(416).header('Content-Range', `bytes */${f.size}`).type('application/json').send({
            error: { code: -32600, message: `Range not satisfiable for a ${f.size}-byte file`, data: { code: 'INVALID_REQUEST', size: f.size } },
          });
        }
        range = r;
      }
      const status = range ? 206 : 200;
      const length = range ? range.end - range.start + 1 : f.size;
      if (range) reply.code(206).header('Content-Range', `bytes ${range.start}-${range.end}/${f.size}`);
      reply.header('Content-Length', String(length));
      if (req.method === 'HEAD') return headOnly(reply, status, f.close);
      let lease: BudgetLease | undefined;
      try {
        lease = await reserveRead(ctx, Math.min(length, STREAM_RESERVE_BYTES));
      } catch (err) {
        f.close();
        return sendError(reply.removeHeader('Content-Length').removeHeader('Content-Range').removeHeader('Content-Disposition'), err);
      }
      holdUntilDone(reply, lease);
      return reply.send(f.stream(range));
    });

    scope.put('/api/files/*', { bodyLimit: Number.MAX_SAFE_INTEGER }, async (req, reply) => {
      const q = req.query as Record<string, string | undefined>;
      const ifMatch = parseEtagList(req.headers['if-match'])?.[0];
      const ifNoneMatch = req.headers['if-none-match']?.trim() === '*' ? '*' : undefined;
      let body: Readable | Buffer = (req.body as Readable | undefined) ?? Buffer.alloc(0);
      try {
        // A small body with a declared length is read whole, so it takes the same write path as
        // files.write over JSON-RPC; larger or chunked bodies stream to disk.
        const declared = Number(req.headers['content-length']);
        if (!Buffer.isBuffer(body) && Number.isInteger(declared) && declared <= SMALL_BODY_BYTES) body = await readWhole(body, declared);
        const res = await dispatcher.run<{ version: string; created: boolean }>(
          'files.rest.put',
          { path: pathParam(req), body, ifMatch, ifNoneMatch, mkdirs: flag(q.mkdirs) },
          contexts.of(req, reply),
        );
        return reply.code(res.created ? 201 : 200).header('ETag', etagOf(res.version)).type('application/json').send(res);
      } catch (err) {
        // Drain what the client is still sending so it reads our answer instead of a reset.
        if (typeof (body as Readable).resume === 'function') (body as Readable).resume();
        const precondition = err instanceof IcpyError && err.code === 'VERSION_CONFLICT' && (ifMatch !== undefined || ifNoneMatch !== undefined);
        return sendError(reply, err, precondition ? 412 : undefined);
      }
    });

    scope.delete('/api/files/*', async (req, reply) => {
      const q = req.query as Record<string, string | undefined>;
      const ifMatch = parseEtagList(req.headers['if-match'])?.[0];
      try {
        const res = await dispatcher.call(
          'files.delete',
          { path: pathParam(req), recursive: flag(q.recursive), expectedVersion: ifMatch && ifMatch !== '*' ? ifMatch : undefined },
          contexts.of(req, reply),
        );
        return reply.code(200).type('application/json').send(res);
      } catch (err) {
        const precondition = err instanceof IcpyError && err.code === 'VERSION_CONFLICT' && ifMatch !== undefined;
        return sendError(reply, err, precondition ? 412 : undefined);
      }
    });
  });

  return { openApi: FILES_OPENAPI };
}

/** Reserve read-budget bytes for this caller (none when the context has no budget). */
function reserveRead(ctx: MethodContext, bytes: number): Promise<BudgetLease> | undefined {
  // The signal only if the read has to wait: making it costs an AbortController and a close listener per GET.
  return ctx.readBudget?.acquire(bytes, () => ctx.signal);
}

// Schemas shared with the RPC routes are referenced by their components/schemas name (see openapi.ts schemaName).
const errorRef = { content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorBody' } } } };
const pathParamDoc = {
  name: 'path',
  in: 'path',
  required: true,
  schema: { type: 'string' },
  description: 'Workspace-relative file path (slashes allowed, URL-encoded segments)',
};
// PUT answers what files.write answers (files.rest.put returns its result), DELETE what files.delete does.
const writeResult = { $ref: '#/components/schemas/FilesWriteResult' };
const deleteResult = { $ref: '#/components/schemas/FilesDeleteResult' };

export const FILES_OPENAPI: ExtraPaths = {
  '/api/files/{path}': {
    get: {
      operationId: 'filesGet',
      summary: 'Raw bytes of a file, streamed',
      description:
        'ETag is the file version (as files.read/stat return it). Supports Range (single range → 206 with Content-Range; unsatisfiable → 416), If-None-Match (→ 304) and If-Range. Content-Type follows the extension; responses carry `Content-Security-Policy: sandbox`, `X-Content-Type-Options: nosniff`, and HTML/SVG/XML are sent as attachments, so a workspace file never runs script in the API origin.',
      parameters: [
        pathParamDoc,
        { name: 'Range', in: 'header', required: false, schema: { type: 'string' }, description: 'bytes=START-END | bytes=START- | bytes=-SUFFIX' },
        { name: 'If-None-Match', in: 'header', required: false, schema: { type: 'string' } },
        { name: 'download', in: 'query', required: false, schema: { type: 'string' }, description: '1 → Content-Disposition: attachment' },
        { name: 'stat', in: 'query', required: false, schema: { type: 'string' }, description: '1 (or present) → no bytes: the files.stat result as JSON, for a file or a folder' },
      ],
      responses: {
        '200': {
          description: 'The whole file (with ?stat: its files.stat result as JSON)',
          content: {
            'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
            // files.stat's result, declared once under components/schemas
            'application/json': { schema: { $ref: '#/components/schemas/FilesStatResult' } },
          },
        },
        '206': { description: 'The requested range', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
        '304': { description: 'Not modified (If-None-Match matched)' },
        '403': { description: 'PATH_OUTSIDE_WORKSPACE', ...errorRef },
        '404': { description: 'FILE_NOT_FOUND', ...errorRef },
        '416': { description: 'Range not satisfiable', ...errorRef },
      },
    },
    put: {
      operationId: 'filesPut',
      summary: 'Create or replace a file with the request body, streamed to disk atomically',
      description:
        'Any Content-Type; the body is streamed to a temp file and renamed over the target (no size limit, not buffered in memory). If-Match: "VERSION" writes only over that version, If-Match: * only over an existing file, If-None-Match: * only when the file does not exist; a failed precondition answers 412 with error code VERSION_CONFLICT and data.currentVersion.',
      parameters: [
        pathParamDoc,
        { name: 'If-Match', in: 'header', required: false, schema: { type: 'string' } },
        { name: 'If-None-Match', in: 'header', required: false, schema: { type: 'string', enum: ['*'] } },
        { name: 'mkdirs', in: 'query', required: false, schema: { type: 'string' }, description: '1 → create missing parent folders' },
      ],
      requestBody: { required: false, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } }, '*/*': { schema: {} } } },
      responses: {
        '200': { description: 'Replaced', content: { 'application/json': { schema: writeResult } } },
        '201': { description: 'Created', content: { 'application/json': { schema: writeResult } } },
        '403': { description: 'PATH_OUTSIDE_WORKSPACE or READ_ONLY_PATH (.icpy/)', ...errorRef },
        '412': { description: 'VERSION_CONFLICT (precondition failed)', ...errorRef },
      },
    },
    delete: {
      operationId: 'filesDelete',
      summary: 'Delete a file or folder',
      parameters: [
        pathParamDoc,
        { name: 'recursive', in: 'query', required: false, schema: { type: 'string' }, description: '1 → delete a non-empty folder' },
        { name: 'If-Match', in: 'header', required: false, schema: { type: 'string' } },
      ],
      responses: {
        '200': { description: 'Deleted', content: { 'application/json': { schema: deleteResult } } },
        '404': { description: 'FILE_NOT_FOUND', ...errorRef },
        '409': { description: 'DIRECTORY_NOT_EMPTY', ...errorRef },
        '412': { description: 'VERSION_CONFLICT', ...errorRef },
      },
    },
  },
};
