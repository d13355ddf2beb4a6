import { IcpyError, toWireError, type WireError } from '../errors.js';
import { jsonMinBytes } from '../value-depth.js';
import type { Dispatcher } from './dispatcher.js';
import { encodeLargeJson } from './large-json.js';
import type { MethodContext } from './method.js';

export type JsonRpcId = string | number | null;

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  method: string;
  params?: unknown;
  id?: JsonRpcId;
}

export type JsonRpcResponse =
  | { jsonrpc: '2.0'; id: JsonRpcId; result: unknown }
  | { jsonrpc: '2.0'; id: JsonRpcId; error: WireError };

/** Bounds on one incoming message and its reply (see Limits in docs/protocol.md). */
export interface JsonRpcOptions {
  /** Elements in one batch; a longer batch is answered with one LIMIT_EXCEEDED error, id null. Default 100. */
  maxBatchLength?: number;
  /** Elements of one batch running at once. Default 8. */
  batchConcurrency?: number;
  /** UTF-8 bytes of one reply, a batch's replies together. Default 16 MiB. */
  maxReplyBytes?: number;
  /** Sees a reply that could not be encoded (our bug: a result that is not JSON). */
  onInternalError?: (err: unknown, method: string) => void;
}

/** Results at least this big are encoded in a turn of their own (see yieldToIo). */
const YIELD_AFTER_BYTES = 256 * 1024;

const DEFAULTS = { maxBatchLength: 100, batchConcurrency: 8, maxReplyBytes: 16 * 1024 * 1024 };

function errorResponse(id: JsonRpcId, err: unknown): JsonRpcResponse {
  return { jsonrpc: '2.0', id, error: toWireError(err) };
}

function isValidId(id: unknown): id is JsonRpcId {
  return id === null || typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
}

/** A request ready to run, or the error reply that refuses it. */
type Checked = { ok: true; method: string; params: unknown; id: JsonRpcId; hasId: boolean } | { ok: false; reply: JsonRpcResponse };

function check(msg: unknown): Checked {
  const refuse = (id: JsonRpcId, message: string): Checked => ({ ok: false, reply: errorResponse(id, new IcpyError('INVALID_REQUEST', message)) });
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return refuse(null, 'Invalid request: expected a JSON-RPC 2.0 object');
  const m = msg as Record<string, unknown>;
  const hasId = Object.hasOwn(m, 'id');
  const id = hasId && isValidId(m.id) ? m.id : null;
  if (m.jsonrpc !== '2.0') return refuse(id, 'Invalid request: jsonrpc must be "2.0"');
  if (typeof m.method !== 'string' || m.method.length === 0) return refuse(id, 'Invalid request: method must be a non-empty string');
  if (hasId && !isValidId(m.id)) return refuse(null, 'Invalid request: id must be a string, number or null');
  if (m.params !== undefined && (typeof m.params !== 'object' || m.params === null)) {
    return refuse(id, 'Invalid request: params must be an object or array');
  }
  return { ok: true, method: m.method, params: m.params, id, hasId };
}

async function run(dispatcher: Dispatcher, req: Checked & { ok: true }, ctx: MethodContext): Promise<JsonRpcResponse | undefined> {
  try {
    const result = await dispatcher.call(req.method, req.params, ctx);
    return req.hasId ? { jsonrpc: '2.0', id: req.id, result } : undefined;
  } catch (err) {
    // Notifications get no reply, even on error (JSON-RPC 2.0 §4.1).
    return req.hasId ? errorResponse(req.id, err) : undefined;
  }
}

function encode(res: JsonRpcResponse, method: string, opts: JsonRpcOptions): string {
  try {
    return JSON.stringify(res);
  } catch (err) {
    opts.onInternalError?.(err, method);
    return JSON.stringify(errorResponse(res.id, new IcpyError('INTERNAL_ERROR')));
  }
}

/**
 * An encoded JSON text: a string, or its UTF-8 bytes in pieces (a large reply, built slice by
 * slice) that a transport writes in order as they are — never joined into one buffer, which for a
 * 32 MiB batch is a copy of tens of milliseconds in one block.
 */
export type EncodedJson = string | readonly Buffer[];

/** The UTF-8 byte length of an encoded JSON text. */
export function encodedLength(text: EncodedJson): number {
  if (typeof text === 'string') return Buffer.byteLength(text, 'utf8');
  let n = 0;
  for (const b of text) n += b.length;
  return n;
}

/**
 * Encode a reply; one whose result is large (at least YIELD_AFTER_BYTES) is encoded in slices,
 * one per fair turn (core/turns.ts), into Buffers, so building it never holds the event loop
 * for long and the transport sends the bytes without converting an 8 MiB string at once.
 */
async function encodeSized(res: JsonRpcResponse, method: string, min: number, opts: JsonRpcOptions): Promise<EncodedJson> {
  if (min <= YIELD_AFTER_BYTES) return encode(res, method, opts);
  try {
    return await encodeLargeJson(res);
  } catch (err) {
    opts.onInternalError?.(err, method);
    return JSON.stringify(errorResponse(res.id, new IcpyError('INTERNAL_ERROR')));
  }
}

/** A context whose `retainUntilEncoded` releases are run once this call's reply is encoded. */
function encodingScope(ctx: MethodContext): { ctx: MethodContext; release(): void } {
  let held: (() => void)[] | undefined;
  return {
    ctx: { ...ctx, retainUntilEncoded: (fn) => (held ??= []).push(fn) },
    release() {
      if (held) for (const fn of held.splice(0)) fn();
    },
  };
}

/** A lower bound of a reply's encoded bytes (exact enough to refuse one that cannot fit `room` without encoding it). */
function minBytes(res: JsonRpcResponse, room: number): number {
  return 'result' in res ? jsonMinBytes(res.result, room) : 0;
}

function tooLarge(id: JsonRpcId, max: number, size?: number): string {
  const what = size === undefined ? 'The reply would exceed' : `Reply of ${size} bytes exceeds`;
  return JSON.stringify(
    errorResponse(
      id,
      new IcpyError('REPLY_TOO_LARGE', `${what} maxReplyBytes (${max}); ask for less (smaller ranges, fewer elements per batch)`, {
        limit: 'maxReplyBytes',
        max,
        ...(size === undefined ? {} : { size }),
      }),
    ),
  );
}

/**
 * Handle a decoded JSON-RPC message (single or batch) and return the encoded reply, or undefined
 * when none is due (only notifications).
 *
 * A batch runs at most `batchConcurrency` elements at once and its replies share one
 * `maxReplyBytes` budget: the first element whose reply does not fit gets REPLY_TOO_LARGE (its
 * own id), and from then on no further element is started — each is answered REPLY_TOO_LARGE
 * (notifications are dropped), so the memory of an over-large batch is never spent.
 */
export async function handleJsonRpc(dispatcher: Dispatcher, msg: unknown, ctx: MethodContext, opts: JsonRpcOptions = {}): Promise<EncodedJson | undefined> {
  const maxReply = opts.maxReplyBytes ?? DEFAULTS.maxReplyBytes;
  if (!Array.isArray(msg)) {
    const req = check(msg);
    const scope = encodingScope(ctx);
    try {
      const res = req.ok ? await run(dispatcher, req, scope.ctx) : req.reply;
      if (res === undefined) return undefined;
      const min = minBytes(res, maxReply);
      if (min > maxReply) return tooLarge(res.id, maxReply);
      const text = await encodeSized(res, req.ok ? req.method : '(invalid)', min, opts);
      const size = typeof text === 'string' && text.length * 3 <= maxReply ? 0 : encodedLength(text);
      return size > maxReply ? tooLarge(res.id, maxReply, size) : text;
    } finally {
      scope.release();
    }
  }
  if (msg.length === 0) return JSON.stringify(errorResponse(null, new IcpyError('INVALID_REQUEST', 'Invalid request: empty batch')));
  const maxLength = opts.maxBatchLength ?? DEFAULTS.maxBatchLength;
  if (msg.length > maxLength) {
    return JSON.stringify(
      errorResponse(
        null,
        new IcpyError('LIMIT_EXCEEDED', `Batch of ${msg.length} elements exceeds maxBatchLength (${maxLength}); nothing in it was run`, {
          limit: 'maxBatchLength',
          max: maxLength,
          size: msg.length,
        }),
      ),
    );
  }
  const parts: (EncodedJson | undefined)[] = new Array(msg.length);
  let used = 2; // "[" and "]"
  let spent = false;
  let next = 0;
  // Elements see a signal that also fires when the budget is spent, so those still waiting (for
  // a read budget, say) give up instead of producing a reply that would be refused.
  const stop = new AbortController();
  const parentSignal = ctx.signal;
  const elementCtx: MethodContext = { ...ctx, signal: parentSignal ? AbortSignal.any([parentSignal, stop.signal]) : stop.signal };
  const spend = () => {
    if (spent) return;
    spent = true;
    stop.abort(new IcpyError('REPLY_TOO_LARGE', `The batch reply reached maxReplyBytes (${maxReply})`, { limit: 'maxReplyBytes', max: maxReply }));
  };
  const worker = async () => {
    while (next < msg.length) {
      const i = next++;
      const req = check(msg[i]);
      if (!req.ok) {
        parts[i] = encode(req.reply, '(invalid)', opts);
        continue;
      }
      if (spent) {
        if (req.hasId) parts[i] = tooLarge(req.id, maxReply);
        continue;
      }
      const scope = encodingScope(elementCtx);
      try {
        const res = await run(dispatcher, req, scope.ctx);
        if (res === undefined) continue;
        const min = minBytes(res, maxReply - used - 1);
        if (spent || min > maxReply - used - 1) {
          spend();
          parts[i] = tooLarge(res.id, maxReply);
          continue;
        }
        const text = await encodeSized(res, req.method, min, opts);
        const size = encodedLength(text) + 1; // and its comma
        if (spent || used + size > maxReply) {
          spend();
          parts[i] = tooLarge(res.id, maxReply, size - 1);
          continue;
        }
        used += size;
        parts[i] = text;
      } finally {
        scope.release();
      }

    }
  };
  const concurrency = Math.max(1, Math.min(opts.batchConcurrency ?? DEFAULTS.batchConcurrency, msg.length));
  await Promise.all(Array.from({ length: concurrency }, worker));
  const out = parts.filter((p): p is EncodedJson => p !== undefined);
  if (!out.length) return undefined;
  if (out.every((p) => typeof p === 'string')) return `[${out.join(',')}]`;
  const bufs: Buffer[] = [];
  let text = '['; // consecutive small replies are joined as text, then encoded once
  out.forEach((p, i) => {
    if (i) text += ',';
    if (typeof p === 'string') text += p;
    else {
      bufs.push(Buffer.from(text), ...p); // text is never empty here: '[' or a ',' at least
      text = '';
    }
  });
  bufs.push(Buffer.from(text + ']'));
  return bufs;
}

/** Parse text then handle; a parse failure is -32700 with id null. */
export async function handleJsonRpcText(dispatcher: Dispatcher, text: string, ctx: MethodContext, opts: JsonRpcOptions = {}): Promise<EncodedJson | undefined> {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return JSON.stringify(errorResponse(null, new IcpyError('PARSE_ERROR', 'Parse error: message is not valid JSON')));
  }
  return handleJsonRpc(dispatcher, msg, ctx, opts);
}

/**
 * Encode one result for a transport that sends it bare (`POST /api/rpc/{method}`), under the same
 * `maxReplyBytes` cap: REPLY_TOO_LARGE is thrown when it does not fit.
 */
export async function encodeResult(result: unknown, maxReplyBytes: number = DEFAULTS.maxReplyBytes): Promise<EncodedJson> {
  const min = jsonMinBytes(result ?? null, maxReplyBytes);
  if (min > maxReplyBytes) {
    throw new IcpyError('REPLY_TOO_LARGE', `The reply would exceed maxReplyBytes (${maxReplyBytes})`, { limit: 'maxReplyBytes', max: maxReplyBytes });
  }
  const text = min > YIELD_AFTER_BYTES ? await encodeLargeJson(result ?? null) : JSON.stringify(result ?? null);
  const size = typeof text === 'string' && text.length * 3 <= maxReplyBytes ? 0 : encodedLength(text);
  if (size > maxReplyBytes) {
    throw new IcpyError('REPLY_TOO_LARGE', `Reply of ${size} bytes exceeds maxReplyBytes (${maxReplyBytes})`, { limit: 'maxReplyBytes', max: maxReplyBytes, size });
  }
  return text;
}

export function encodeNotification(method: string, params: unknown): string {
  return JSON.stringify({ jsonrpc: '2.0', method, params });
}

export { errorResponse };
