import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { IcpyError } from '../../core/errors.js';
import type { Disposable } from '../../core/lifecycle.js';
import { describeError, type Logger } from '../../core/logger.js';
import type { LspChannel, LspHosts, LspPeer } from '../../core/lsp.js';
import type { ConnectionInfo } from '../../core/rpc/index.js';
import type { Authenticator, Principal } from '../../core/principal.js';
import { acceptUpgrade, closeForFailure, closeSoon, pausingTurns, shutdownEndpoint, startHeartbeat } from '../ws-upgrade.js';
import type { WebSession } from '../web-session.js';

/**
 * Close codes of /api/lsp. A refusal to attach closes with 4000 + its HTTP status (4404 unknown
 * language, 4503 the server cannot start — the reason names the language and package, 4429 a
 * limit); the reason is the error's message.
 */
export const LspClose = {
  /** The client sent `exit`. */
  Normal: 1000,
  GoingAway: 1001,
  UnsupportedData: 1003,
  MessageTooBig: 1009,
  InternalError: 1011,
  TryAgainLater: 1013,
  BadRequest: 4400,
  Unauthorized: 4401,
} as const;

export interface LspGatewayOptions {
  hosts: LspHosts;
  logger: Logger;
  /** Upgrades under this prefix are raw LSP: `/api/lsp/` + the language id. */
  prefix: string;
  authenticate: Authenticator;
  boundToLoopback: boolean;
  allowedHosts: readonly string[];
  allowedOrigins: readonly string[];
  /** The owner's browser session cookie, accepted on upgrades without a token (ws-upgrade.ts). */
  session?: WebSession;
  admit?: () => IcpyError | undefined;
  heartbeatMs: number;
  /** Frames above this close the socket with 1009 (a didOpen carries a whole document). */
  maxMessageBytes: number;
  /** A client whose socket holds more unsent bytes than this does not read: closed with 1013. */
  maxBufferedBytes: number;
  /** Register the connection; `close` ends it from the server side (a revoked credential: 4401). */
  onConnection: (info: ConnectionInfo, close: (code: number, reason: string) => void) => Disposable;
}

/** Messages a client may send while its server starts (a client sends initialize at once). */
const MAX_EARLY_MESSAGES = 256;
const MESSAGES_PER_TURN = 8;
const LANGUAGE_ID = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$/;

interface Client {
  readonly ws: WebSocket;
  readonly info: ConnectionInfo;
  alive: boolean;
  closed: boolean;
  channel?: LspChannel;
}

/**
 * Raw LSP at `WS /api/lsp/{languageId}`: one JSON-RPC message per text frame (the
 * vscode-ws-jsonrpc convention). Upgrades are checked like /api/ws (Host 403 → Origin 403 →
 * admission 429 → token 4401). This transport only parses and serialises frames; the service
 * (`LspHosts`) multiplexes every client onto the shared server of its language.
 */
/** Close code refusing a path-limited principal raw LSP (4000 + 403, as other refusals). */
export const LSP_PATHS_CLOSE = 4403;

export class LspGateway implements Disposable {
  private readonly wss: WebSocketServer;
  private readonly clients = new Set<Client>();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(private readonly opts: LspGatewayOptions) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxMessageBytes, perMessageDeflate: false, clientTracking: false });
    this.heartbeat = startHeartbeat(opts.heartbeatMs, () => this.clients);
  }

  get connectionCount(): number {
    return this.clients.size;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    acceptUpgrade(this.wss, req, socket, head, this.opts, 'lsp', (ws, info, _url, principal) => {
      // Raw LSP names files in any message (didOpen, workspace/symbol, references), which cannot
      // be filtered by path: a path-limited principal uses the lsp.* methods instead.
      if (principal.paths) return closeSoon(ws, LSP_PATHS_CLOSE, 'Forbidden: raw LSP cannot be filtered by path; use the lsp.* methods');
      const languageId = languageOf((req.url ?? '').split('?')[0]!, this.opts.prefix);
      if (languageId instanceof IcpyError) return closeSoon(ws, LspClose.BadRequest, languageId.message);
      this.accept(ws, info, languageId, principal);
    });
  }


  private accept(ws: WebSocket, info: ConnectionInfo, languageId: string, principal: Principal): void {
    const client: Client = { ws, info, alive: true, closed: false };
    const registration = this.opts.onConnection(info, (code, reason) => this.close(client, code, reason));
    const peer: LspPeer = {
      connection: info,
      principal,
      send: (message) => this.send(client, message),
      close: (code, reason) => this.close(client, code, reason),
    };
    this.clients.add(client);
    const turns = pausingTurns(ws, MESSAGES_PER_TURN);
    const early: string[] = [];
    ws.on('pong', () => (client.alive = true));
    ws.on('error', (err) => this.opts.logger.debug('lsp: socket error', { connection: info.id, ...describeError(err) }));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      client.alive = true;
      if (client.closed) return;
      if (isBinary) return this.close(client, LspClose.UnsupportedData, 'LSP frames are text: one JSON-RPC message each');
      const text = data.toString('utf8');
      if (!client.channel) {
        if (early.length >= MAX_EARLY_MESSAGES) return this.close(client, LspClose.TryAgainLater, 'Too many messages before the language server was ready');
        early.push(text);
        return;
      }
      turns.run(() => this.onFrame(client, text));
    });
    ws.once('close', () => {
      client.closed = true;
      this.clients.delete(client);
      turns.dispose();
      try {
        client.channel?.close();
      } catch (err) {
        this.opts.logger.error('lsp: closing a raw session failed', { connection: info.id, ...describeError(err) });
      }
      void registration.dispose();
    });

    this.opts.hosts.attach(languageId, peer).then(
      (channel) => {
        if (client.closed) return channel.close();
        client.channel = channel;
        for (const text of early.splice(0)) turns.run(() => this.onFrame(client, text));
      },
      (err: unknown) => {
        const { code, reason } = closeForFailure(err, this.opts.logger, 'lsp: attaching a raw client', { languageId });
        this.close(client, code, reason);
      },
    );
  }

  /** One text frame: a JSON-RPC message, or a parse error answered with id null (-32700). */
  private onFrame(client: Client, text: string): void {
    const channel = client.channel;
    if (!channel || client.closed) return;
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      this.send(client, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error: a frame must hold one JSON-RPC message' } });
      return;
    }
    try {
      channel.receive(message);
    } catch (err) {
      this.opts.logger.error('lsp: handling a message failed', { connection: client.info.id, ...describeError(err) });
      this.close(client, LspClose.InternalError, 'Internal error');
    }
  }

  private send(client: Client, message: object): void {
    const ws = client.ws;
    if (client.closed || ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > this.opts.maxBufferedBytes) {
      this.opts.logger.info('lsp: dropping a client that does not read', { connection: client.info.id, buffered: ws.bufferedAmount });
      this.close(client, LspClose.TryAgainLater, 'Too far behind: not reading its messages');
      return;
    }
    let text: string;
    try {
      text = JSON.stringify(message);
    } catch (err) {
      this.opts.logger.error('lsp: a message did not serialise', { connection: client.info.id, ...describeError(err) });
      return;
    }
    ws.send(text);
  }

  private close(client: Client, code: number, reason: string): void {
    if (client.closed) return;
    client.closed = true;
    closeSoon(client.ws, code, reason);
  }

  /** Close every connection (1001 Going Away), waiting for each close. */
  async dispose(): Promise<void> {
    await shutdownEndpoint(this.wss, this.heartbeat, this.clients, (p) => this.close(p, LspClose.GoingAway, 'Server shutting down'));
  }

}

/** The language id of an upgrade path (`/api/lsp/typescript` → `typescript`), or why it is not one. */
export function languageOf(pathname: string, prefix: string): string | IcpyError {
  const id = pathname.startsWith(prefix) ? pathname.slice(prefix.length) : '';
  if (!LANGUAGE_ID.test(id)) return new IcpyError('INVALID_PARAMS', `'${id.slice(0, 64)}' is not a language id (letters, digits, _ . + -)`, { field: 'languageId' });
  return id;
}

