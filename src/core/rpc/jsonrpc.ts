import { IcpyError, toWireError, type WireError } from '../errors.js';
import { jsonMinBytes } from '../value-depth.js';
import type { Dispatcher } from './dispatcher.js';
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

function byteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** A lower bound of a reply's encoded bytes (exact enough to refuse one that cannot fit `room` without encoding it). */
function minBytes(res: JsonRpcResponse, room: number): number {
  return 'result' in res ? jsonMinBytes(res.result, room) : 0;
}

/**
 * Encoding a large result holds the event loop for many milliseconds; before doing it, let other
 * connections' I/O run, so reads completing together do not chain into one long block.
 */
function yieldToIo(): Promise<void> {
  return new Promise((r) => setImmediate(r));
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
export async function handleJsonRpc(dispatcher: Dispatcher, msg: unknown, ctx: MethodContext, opts: JsonRpcOptions = {}): Promise<string | undefined> {
  const maxReply = opts.maxReplyBytes ?? DEFAULTS.maxReplyBytes;
  if (!Array.isArray(msg)) {
    const req = check(msg);
    const res = req.ok ? await run(dispatcher, req, ctx) : req.reply;
    if (res === undefined) return undefined;
    const min = minBytes(res, maxReply);
    if (min > maxReply) return tooLarge(res.id, maxReply);
    if (min > YIELD_AFTER_BYTES) await yieldToIo();
    const text = encode(res, req.ok ? req.method : '(invalid)', opts);
    const size = text.length * 3 <= maxReply ? 0 : byteLength(text);
    return size > maxReply ? tooLarge(res.id, maxReply, size) : text;
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
  const parts: (string | undefined)[] = new Array(msg.length);
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
      const res = await run(dispatcher, req, elementCtx);
      if (res === undefined) continue;
      const min = minBytes(res, maxReply - used - 1);
      if (spent || min > maxReply - used - 1) {
        spend();
        parts[i] = tooLarge(res.id, maxReply);
        continue;
      }
      if (min > YIELD_AFTER_BYTES) await yieldToIo();
      const text = encode(res, req.method, opts);
      const size = byteLength(text) + 1; // and its comma
      if (spent || used + size > maxReply) {
        spend();
        parts[i] = tooLarge(res.id, maxReply, size - 1);
        continue;
      }
      used += size;
      parts[i] = text;

    }
  };
  const concurrency = Math.max(1, Math.min(opts.batchConcurrency ?? DEFAULTS.batchConcurrency, msg.length));
  await Promise.all(Array.from({ length: concurrency }, worker));
  const out = parts.filter((p): p is string => p !== undefined);
  return out.length ? `[${out.join(',')}]` : undefined;
}

/** Parse text then handle; a parse failure is -32700 with id null. */
export async function handleJsonRpcText(dispatcher: Dispatcher, text: string, ctx: MethodContext, opts: JsonRpcOptions = {}): Promise<string | undefined> {
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
export function encodeResult(result: unknown, maxReplyBytes: number = DEFAULTS.maxReplyBytes): string {
  const text = JSON.stringify(result ?? null);
  const size = text.length * 3 <= maxReplyBytes ? 0 : byteLength(text);
  if (size > maxReplyBytes) {
    throw new IcpyError('REPLY_TOO_LARGE', `Reply of ${size} bytes exceeds maxReplyBytes (${maxReplyBytes})`, { limit: 'maxReplyBytes', max: maxReplyBytes, size });
  }
  return text;
}

export function encodeNotification(method: string, params: unknown): string {
  return JSON.stringify({ jsonrpc: '2.0', method, params });
}

export { errorResponse };
