import type { z } from 'zod';
import type { ClientKind, EventSource } from '../broker/broker.js';
import type { BudgetLease, SignalSource } from '../byte-budget.js';
import type { DisposableStore } from '../lifecycle.js';
import type { PathUse, Principal } from '../principal.js';

export type Scope = 'read' | 'write' | 'execute' | 'admin';
export const SCOPES: readonly Scope[] = ['read', 'write', 'execute', 'admin'];

export type TransportKind = 'ws' | 'http' | 'cli' | 'mcp' | 'internal';

/** What a connection says about itself; becomes the `source` of events it causes. */
export interface ConnectionInfo {
  id: string;
  kind: ClientKind;
  name: string;
  transport: TransportKind;
  /** The principal this connection authenticated as (`owner`, `agent:<id>`); revocation closes its connections. */
  principalId: string;
  remoteAddress?: string;
  connectedAt: number;
}

/**
 * A live, two-way connection (WebSocket) that can receive notifications and owns resources
 * disposed when it goes. HTTP requests have none.
 */
export interface Session {
  notify(method: string, params: unknown): void;
  /** Call `cb` once when the outgoing buffer has drained below its low-water mark. */
  onWritable(cb: () => void): void;
  /**
   * Send one pre-encoded frame: text (a JSON-RPC message the caller encoded itself, e.g. an event
   * notification from `encodeEventNotification`, encoded once for many connections) or binary (a
   * layout the sending method documents). An array is one binary message sent as consecutive
   * fragments, part by part, so a header and large payload Buffers go out without being copied
   * into one (the receiver sees one message). Parts must not be modified until sent: `onSent`,
   * when given, is called once the transport no longer holds them (written to the socket, or the
   * connection gone), so their memory may be used again. Returns false when the outgoing buffer
   * is above its high-water mark; the caller should then wait for `onWritable`.
   */
  sendFrame(frame: string | Uint8Array | readonly Uint8Array[], onSent?: () => void): boolean;
  /** Bytes handed to this connection and not yet written to the network (flow control). */
  readonly bufferedAmount: number;
  /** Disposed when the connection closes. */
  readonly resources: DisposableStore;
  /** Named resources (e.g. subscriptions by id), so methods can find and release them; all disposed when the connection closes. */
  readonly handles: Map<string, { dispose(): void }>;
}

/** Bytes a caller may hold while reading files (per connection, within the server's budget). */
export interface ReadBudget {
  /** `signal` may be a function making it: asked for only when the request must wait. */
  acquire(bytes: number, signal?: SignalSource): Promise<BudgetLease>;
}

/**
 * What every call carries, whatever the transport: who calls (connection), for whom and what it
 * may do (principal: scopes and path limits), and a signal that fires when the caller goes away (WebSocket closed, HTTP client
 * disconnected before its reply, SSE stream closed). Transports always set `signal`.
 */
export interface MethodContext {
  connection: ConnectionInfo;
  principal: Principal;
  session?: Session;
  signal?: AbortSignal;
  /** Bounds file bytes this caller reads at once (limits.maxInflightReadBytes*); absent = unbounded (internal callers). */
  readBudget?: ReadBudget;
  /** Run `fn` once the reply to this call has been sent (immediately where there is no reply). */
  afterReply?: (fn: () => void) => void;
  /**
   * Run `fn` once this call's reply has been encoded (a read's budget lease is held until then, so
   * the bytes it admitted are counted while they are still in memory as a string). Absent where no
   * reply is encoded: the caller then releases at once.
   */
  retainUntilEncoded?: (fn: () => void) => void;
}

/**
 * Run `fn` once the reply to this call has been sent, so notifications it starts (a replay, a
 * terminal's output) never overtake the reply; at once where the transport sends no reply first.
 */
export function whenReplied(ctx: MethodContext, fn: () => void): void {
  if (ctx.afterReply) ctx.afterReply(fn);
  else fn();
}

export function sourceOf(ctx: MethodContext): EventSource {
  return { connectionId: ctx.connection.id, kind: ctx.connection.kind, name: ctx.connection.name };
}

export interface MethodDefinition<P extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> {
  /** Dotted name, `domain.verb` (`files.read`). */
  name: string;
  description: string;
  params: P;
  result: R;
  scope: Scope;
  /**
   * The workspace paths this call names (issue 13). For a path-limited principal the dispatcher
   * checks each before the handler runs (and the files service checks resolved links again).
   * A method that declares neither `paths` nor `pathFree` is refused to path-limited principals.
   */
  paths?: (params: z.output<P>) => PathUse[];
  /** Takes out of a result what a path-limited principal may not see (listing entries, search hits). */
  visible?: (result: z.input<R>, principal: Principal) => z.input<R>;
  /** Names and reveals no workspace path (server.info, terminal.write…): path-limited principals may call it. */
  pathFree?: true;
  /**
   * Only the owner may call it (agents.tokens.*): an agent credential is refused whatever its
   * scopes, and it is never a tool for one.
   */
  ownerOnly?: true;
  /**
   * Tool hints (MCP annotations): a write/execute method is taken as destructive and not
   * idempotent unless it says otherwise (`files.mkdir` is idempotent, `docs.save` is not destructive).
   */
  destructive?: boolean;
  idempotent?: boolean;
  /** Needs a Session (a WebSocket); HTTP callers get a clear error. */
  requiresSession?: boolean;
  /**
   * Worked examples shown in rpc.discover, OpenAPI, /api/docs and CLI help. Each pairs params
   * with the result they give; a test checks both against the schemas (zod and JSON Schema).
   */
  examples?: MethodExample<z.input<P>, z.input<R>>[];
  handler: (params: z.output<P>, ctx: MethodContext) => z.input<R> | Promise<z.input<R>>;
}

export interface MethodExample<P = unknown, R = unknown> {
  /** Short label (`next page`); `example<N>` when omitted. */
  name?: string;
  description?: string;
  params: P;
  /** What the server answers to `params` (on the wire, as the handler returns it). */
  result: R;
}

/** Declare a method once; every transport and document is derived from this. */
export function defineMethod<P extends z.ZodType, R extends z.ZodType>(def: MethodDefinition<P, R>): MethodDefinition<P, R> {
  return def;
}

/**
 * A call that is not JSON-RPC: a REST operation or a stream (its params may hold a body stream or
 * a sink, its result a file handle). Declared beside the service's methods with a scope and a
 * params schema, run by `Dispatcher.run` with the same scope check, validation, error logging and
 * call context as a method; transports only translate their protocol to params and back. Not listed
 * in `rpc.discover` and not callable over JSON-RPC.
 */
export interface OperationDefinition<P extends z.ZodType = z.ZodType, R = unknown> {
  /** Dotted name, `domain.what` (`files.rest.put`). */
  name: string;
  scope: Scope;
  params: P;
  /** As for methods. */
  paths?: (params: z.output<P>) => PathUse[];
  pathFree?: true;
  handler: (params: z.output<P>, ctx: MethodContext) => R | Promise<R>;
}

export function defineOperation<P extends z.ZodType, R>(def: OperationDefinition<P, R>): OperationDefinition<P, R> {
  return def;
}

export interface EventDefinition<D extends z.ZodType = z.ZodType> {
  /** Past-tense dotted topic (`fs.file.changed`); may contain `{placeholder}` segments in docs. */
  topic: string;
  description: string;
  data: D;
  /**
   * The workspace paths an event is about (issue 13): a path-limited principal receives it only
   * when every one is inside its limits. An event that declares neither `paths` nor `pathFree`
   * is not delivered to path-limited principals.
   */
  paths?: (data: z.output<D>) => (string | undefined)[];
  /**
   * For an event whose data lists several paths (a watcher batch): a copy of `data` holding only
   * what `allows` accepts (`allows` takes a path as the data names it), or undefined when nothing
   * is left. A path-limited principal then receives the narrowed event instead of none; the copy
   * is checked against `paths` again, so anything it still names must be allowed. Without it an
   * event naming any path outside is withheld whole.
   */
  narrow?: (data: z.output<D>, allows: (path: string) => boolean) => z.output<D> | undefined;
  /** About no workspace path: delivered to every principal that may read events. */
  pathFree?: true;
  /** Only the owner receives it (credential management): agents never see it, whatever their scopes. */
  ownerOnly?: true;
}

export function defineEvent<D extends z.ZodType>(def: EventDefinition<D>): EventDefinition<D> {
  return def;
}
