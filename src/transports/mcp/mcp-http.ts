import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Broker } from '../../core/broker/index.js';
import { IcpyError, toWireError } from '../../core/errors.js';
import type { Disposable } from '../../core/lifecycle.js';
import { describeError, type Logger } from '../../core/logger.js';
import type { Authenticator, Principal } from '../../core/principal.js';
import type { ConnectionInfo, Dispatcher, ReadBudget } from '../../core/rpc/index.js';
import { bearerToken, originAllowed } from '../../core/security.js';
import { connectionIdentity } from '../ws-upgrade.js';
import { McpSession } from './mcp-session.js';

export interface McpHttpOptions {
  dispatcher: Dispatcher;
  broker: Broker;
  logger: Logger;
  authenticate: Authenticator;
  allowedOrigins: readonly string[];
  server: { name: string; version: string };
  /** agents.maxMcpSessions: one more initialize is LIMIT_EXCEEDED (HTTP 429). */
  maxSessions: number;
  /** agents.maxMcpSessionsPerPrincipal: one principal's share of maxSessions (429 past it). */
  maxSessionsPerPrincipal: number;
  /** agents.mcpSessionIdleMs: a session with no open request for this long is closed. */
  idleMs: number;
  /** Asked before a session opens (maxConnections). */
  admit?: () => IcpyError | undefined;
  /** A read budget for a new session (limits.maxInflightReadBytesPerConnection). */
  readBudget?: () => ReadBudget | undefined;
  /** Register the session as a live connection; `close` ends it (revocation, expiry). */
  onSession?: (info: ConnectionInfo, subscriptions: () => number, close: (code: number, reason: string) => void) => Disposable;
  /** How often the tool list is compared with the registry (notifications/tools/list_changed). */
  toolsCheckMs?: number;
}

interface Entry {
  id: string;
  session: McpSession;
  transport: StreamableHTTPServerTransport;
  principal: Principal;
  /** Requests (and GET streams) in progress: a session with one open is not idle. */
  active: number;
  lastSeen: number;
  registration?: Disposable;
}

/**
 * MCP Streamable HTTP at /mcp (POST, GET, DELETE): stateful sessions (`Mcp-Session-Id`), each
 * bound to the principal that initialized it. Checks, in order: Origin (403; the Host check is the
 * HTTP server's, before this), the token (401 with WWW-Authenticate), then the session: unknown, or
 * initialized by another principal → 404 (the same answer, so a token cannot probe for sessions).
 */
export class McpHttpEndpoint implements Disposable {
  private readonly sessions = new Map<string, Entry>();
  /** Sessions being initialized (counted against maxSessions until they exist or fail). */
  private pending = 0;
  /** Open and initializing sessions per principal id (maxSessionsPerPrincipal). */
  private readonly perPrincipal = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly toolsTimer: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly opts: McpHttpOptions) {
    this.sweeper = setInterval(() => this.sweep(), Math.max(50, Math.min(opts.idleMs / 2, 10_000)));
    this.sweeper.unref();
    this.toolsTimer = setInterval(() => {
      for (const e of this.sessions.values()) e.session.checkToolsChanged();
    }, opts.toolsCheckMs ?? 500);
    this.toolsTimer.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  async handle(req: IncomingMessage, res: ServerResponse, bodyText: string | undefined): Promise<void> {
    if (this.closed) return send(res, 503, new IcpyError('UNAVAILABLE', 'The server is shutting down'));
    if (!originAllowed(req.headers.origin, req.headers.host, this.opts.allowedOrigins)) {
      this.opts.logger.warn('mcp: refused request from foreign origin', { origin: req.headers.origin });
      return send(res, 403, new IcpyError('FORBIDDEN', 'Origin not allowed (cross-site request to /mcp); configure allowedOrigins to allow it'));
    }
    const principal = this.opts.authenticate(tokenOf(req));
    if (!principal) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return send(res, 401, new IcpyError('UNAUTHORIZED', 'Missing or wrong token: send Authorization: Bearer <token> (the server token or an agent credential)'));
    }
    let body: unknown;
    if (req.method === 'POST') {
      try {
        body = JSON.parse(bodyText ?? '');
      } catch {
        return send(res, 400, new IcpyError('PARSE_ERROR', 'Body is not valid JSON'));
      }
    }
    const sid = req.headers['mcp-session-id'];
    if (typeof sid === 'string') {
      const entry = this.sessions.get(sid);
      if (!entry || entry.principal.id !== principal.id) {
        return send(res, 404, new IcpyError('NOT_FOUND', 'MCP session not found (closed, expired, or opened with another credential); initialize a new one'));
      }
      return this.serve(entry, req, res, body);
    }
    if (req.method !== 'POST' || !isInitializeRequest(body)) {
      return send(res, 400, new IcpyError('INVALID_REQUEST', 'No Mcp-Session-Id: the first request of a session must be an initialize request (POST)'));
    }
    return this.open(principal, req, res, body);
  }

  private async open(principal: Principal, req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    const max = this.opts.maxSessions;
    if (this.sessions.size + this.pending >= max) {
      return send(res, 429, new IcpyError('LIMIT_EXCEEDED', `The server holds ${max} MCP sessions, the maximum (agents.maxMcpSessions); close one (DELETE /mcp) or try later`, { limit: 'maxMcpSessions', max }));
    }
    const share = this.opts.maxSessionsPerPrincipal;
    if ((this.perPrincipal.get(principal.id) ?? 0) >= share) {
      return send(
        res,
        429,
        new IcpyError(
          'LIMIT_EXCEEDED',
          `${principal.name} holds ${share} MCP sessions, the most one credential may hold (agents.maxMcpSessionsPerPrincipal); close one (DELETE /mcp) or reuse it`,
          { limit: 'maxMcpSessionsPerPrincipal', max: share },
        ),
      );
    }
    const refusal = this.opts.admit?.();
    if (refusal) return send(res, refusal.httpStatus, refusal);
    const clientName = (body as { params?: { clientInfo?: { name?: unknown } } }).params?.clientInfo?.name;
    const id = `m-${randomUUID().slice(0, 8)}`;
    // An MCP client is an agent, whoever's token it holds; an owner session is named after its clientInfo.
    const info = connectionIdentity(id, 'mcp', principal, 'agent', clientName, 'agent', req.socket.remoteAddress);
    const session = new McpSession({
      dispatcher: this.opts.dispatcher,
      broker: this.opts.broker,
      logger: this.opts.logger,
      principal,
      connection: info,
      server: this.opts.server,
      readBudget: this.opts.readBudget?.(),
    });
    let entry: Entry | undefined;
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sessionId) => {
        entry = { id: sessionId, session, transport, principal, active: 0, lastSeen: Date.now() };
        this.sessions.set(sessionId, entry);
        const e = entry;
        e.registration = this.opts.onSession?.(info, () => 0, (code, reason) => {
          this.opts.logger.info('mcp: session closed', { session: sessionId, code, reason });
          void this.closeEntry(e);
        });
      },
    });
    transport.onclose = () => {
      if (entry) void this.closeEntry(entry);
    };
    this.pending++;
    this.countPrincipal(principal.id, +1);
    try {
      await session.server.connect(transport);
      await transport.handleRequest(req, res, body);
    } catch (err) {
      this.opts.logger.error('mcp: initialize failed', describeError(err));
      if (!res.headersSent) send(res, 500, err);
    } finally {
      this.pending--;
    }
    // A session that did not open gives its place back; an open one does in closeEntry.
    if (!entry) {
      this.countPrincipal(principal.id, -1);
      await session.close();
    }
  }

  private async serve(entry: Entry, req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    entry.active++;
    entry.lastSeen = Date.now();
    res.once('close', () => {
      entry.active--;
      entry.lastSeen = Date.now();
    });
    try {
      await entry.transport.handleRequest(req, res, body);
    } catch (err) {
      this.opts.logger.error('mcp: request failed', describeError(err));
      if (!res.headersSent) send(res, 500, err);
    }
  }

  private async closeEntry(entry: Entry): Promise<void> {
    if (this.sessions.get(entry.id) !== entry) return;
    this.sessions.delete(entry.id);
    this.countPrincipal(entry.principal.id, -1);
    entry.registration?.dispose();
    await entry.session.close();
    await entry.transport.close().catch(() => undefined);
  }

  private countPrincipal(id: string, delta: number): void {
    const n = (this.perPrincipal.get(id) ?? 0) + delta;
    if (n > 0) this.perPrincipal.set(id, n);
    else this.perPrincipal.delete(id);
  }

  /** Close every session of a principal (a revoked or expired credential). */
  closePrincipal(principalId: string): void {
    for (const e of [...this.sessions.values()]) if (e.principal.id === principalId) void this.closeEntry(e);
  }

  private sweep(): void {
    const now = Date.now();
    for (const e of [...this.sessions.values()]) {
      if (e.active === 0 && now - e.lastSeen >= this.opts.idleMs) {
        this.opts.logger.info('mcp: idle session closed', { session: e.id, idleMs: this.opts.idleMs });
        void this.closeEntry(e);
      }
    }
  }

  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    clearInterval(this.toolsTimer);
    await Promise.all([...this.sessions.values()].map((e) => this.closeEntry(e)));
  }
}

function tokenOf(req: IncomingMessage): string | undefined {
  const header = bearerToken(req.headers.authorization);
  if (header !== undefined) return header;
  const q = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
  return q ?? undefined;
}

/** A JSON-RPC error envelope (what MCP clients expect from /mcp), with the error's own status. */
function send(res: ServerResponse, status: number, err: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const body = JSON.stringify({ jsonrpc: '2.0', id: null, error: toWireError(err) });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
