import { IcpyError, toWireError, type WireError } from '../errors.js';
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

function errorResponse(id: JsonRpcId, err: unknown): JsonRpcResponse {
  return { jsonrpc: '2.0', id, error: toWireError(err) };
}

function isValidId(id: unknown): id is JsonRpcId {
  return id === null || typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
}

async function handleOne(dispatcher: Dispatcher, msg: unknown, ctx: MethodContext): Promise<JsonRpcResponse | undefined> {
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
    return errorResponse(null, new IcpyError('INVALID_REQUEST', 'Invalid request: expected a JSON-RPC 2.0 object'));
  }
  const m = msg as Record<string, unknown>;
  const hasId = Object.hasOwn(m, 'id');
  const id = hasId && isValidId(m.id) ? m.id : null;
  if (m.jsonrpc !== '2.0') {
    return errorResponse(id, new IcpyError('INVALID_REQUEST', 'Invalid request: jsonrpc must be "2.0"'));
  }
  if (typeof m.method !== 'string' || m.method.length === 0) {
    return errorResponse(id, new IcpyError('INVALID_REQUEST', 'Invalid request: method must be a non-empty string'));
  }
  if (hasId && !isValidId(m.id)) {
    return errorResponse(null, new IcpyError('INVALID_REQUEST', 'Invalid request: id must be a string, number or null'));
  }
  if (m.params !== undefined && (typeof m.params !== 'object' || m.params === null)) {
    return errorResponse(id, new IcpyError('INVALID_REQUEST', 'Invalid request: params must be an object or array'));
  }
  try {
    const result = await dispatcher.call(m.method, m.params, ctx);
    return hasId ? { jsonrpc: '2.0', id, result } : undefined;
  } catch (err) {
    // Notifications get no reply, even on error (JSON-RPC 2.0 §4.1).
    return hasId ? errorResponse(id, err) : undefined;
  }
}

/**
 * Handle a decoded JSON-RPC message (single or batch). Returns what to send back, or
 * undefined when nothing is due (only notifications).
 */
export async function handleJsonRpc(
  dispatcher: Dispatcher,
  msg: unknown,
  ctx: MethodContext,
): Promise<JsonRpcResponse | JsonRpcResponse[] | undefined> {
  if (Array.isArray(msg)) {
    if (msg.length === 0) return errorResponse(null, new IcpyError('INVALID_REQUEST', 'Invalid request: empty batch'));
    const replies = await Promise.all(msg.map((m) => handleOne(dispatcher, m, ctx)));
    const out = replies.filter((r): r is JsonRpcResponse => r !== undefined);
    return out.length ? out : undefined;
  }
  return handleOne(dispatcher, msg, ctx);
}

/** Parse text then handle; a parse failure is -32700 with id null. */
export async function handleJsonRpcText(
  dispatcher: Dispatcher,
  text: string,
  ctx: MethodContext,
): Promise<JsonRpcResponse | JsonRpcResponse[] | undefined> {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return errorResponse(null, new IcpyError('PARSE_ERROR', 'Parse error: message is not valid JSON'));
  }
  return handleJsonRpc(dispatcher, msg, ctx);
}

export function encodeNotification(method: string, params: unknown): string {
  return JSON.stringify({ jsonrpc: '2.0', method, params });
}

export { errorResponse };
