import type { IncomingMessage } from 'node:http';
import { setMaxListeners } from 'node:events';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { ByteBudget } from '../../core/byte-budget.js';
import { IcpyError } from '../../core/errors.js';
import { DisposableStore, type Disposable } from '../../core/lifecycle.js';
import { describeError, type Logger } from '../../core/logger.js';
import {
  encodeNotification,
  errorResponse,
  handleJsonRpcText,
  type ConnectionInfo,
  type JsonRpcOptions,
  type Dispatcher,
  type MethodContext,
  type Scope,
  type Session,
} from '../../core/rpc/index.js';
import type { Authenticator, Principal } from '../../core/principal.js';
import { acceptUpgrade, closeSoon, startHeartbeat } from '../ws-upgrade.js';
import type { WebSession } from '../web-session.js';
import { MessageTurns } from '../../core/message-turns.js';

/** Reads one connection may queue waiting for its read budget; one more is LIMIT_EXCEEDED. */
const MAX_WAITING_READS_PER_CONNECTION = 256;

/** Named close codes (Hocuspocus style). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  MessageTooBig: 1009,
  Unauthorized: 4401,
  Forbidden: 4403,
} as const;

/** HTTP status of an upgrade refused because `maxConnections` is reached (before it is accepted). */
export const UPGRADE_LIMIT_STATUS = 429;

export interface WsGatewayOptions {
  dispatcher: Dispatcher;
  logger: Logger;
  authenticate: Authenticator;
  /** Listening on loopback turns on the Host-header check (DNS rebinding). */
  boundToLoopback: boolean;
  allowedHosts: readonly string[];
  allowedOrigins: readonly string[];
  /** The owner's browser session cookie, accepted on upgrades without a token (ws-upgrade.ts). */
  session?: WebSession;
  /** Messages above this get a MESSAGE_TOO_LARGE error; the connection stays open. */
  maxMessageBytes: number;
  /** Frames above this are not even read: the connection is closed with 1009. */
  hardMaxMessageBytes: number;
  /** Ping period; a peer that misses one whole period is dropped (so within 2× this). */
  heartbeatMs: number;
  /** Event delivery pauses while the socket holds more than this many unsent bytes. */
  highWaterBytes: number;
  /** Batch and reply bounds of the JSON-RPC codec. */
  rpc?: JsonRpcOptions;
  /** Asked before an upgrade is accepted; an error (LIMIT_EXCEEDED) refuses it with its HTTP status. */
  admit?: () => IcpyError | undefined;
  /** File bytes read at once: per connection (limits.maxInflightReadBytesPerConnection) within the server's budget. */
  readBudgets?: { perConnection: number; server: ByteBudget };
  /** Register the connection (presence); disposed when it closes. */
  onConnection: (info: ConnectionInfo, session: WsSession) => Disposable;
}

interface Peer {
  ws: WebSocket;
  alive: boolean;
  session: WsSession;
  turns: MessageTurns;
  /** Stop (on) or allow (off) reading the socket for one reason; it is read when no reason holds. */
  hold(reason: string, on: boolean): void;
}

/** Text messages up to this many characters are coalesced into one write per iteration (WsSession.coalesce). */
const COALESCE_MAX_CHARS = 64 * 1024;

/** Messages one connection starts per event-loop iteration (see MessageTurns). */
const MESSAGES_PER_TURN = 4;

/** A WebSocket connection as the rest of icpy sees it. */
export class WsSession implements Session {
  readonly resources = new DisposableStore();
  readonly handles = new Map<string, { dispose(): void }>();
  private writableWaiters: (() => void)[] = [];
  private drainTimer: NodeJS.Timeout | undefined;
  private corked = false;

  constructor(
    readonly ws: WebSocket,
    readonly info: ConnectionInfo,
    private readonly highWater: number,
    /** The connection's socket (ws's own), to cork a fragmented message into one write. */
    private readonly socket?: Duplex,
  ) {
    // Named handles (subscriptions, attachments) die with the connection.
    this.resources.add({
      dispose: () => {
        clearTimeout(this.drainTimer);
        this.writableWaiters = [];
        const hs = [...this.handles.values()];
        this.handles.clear();
        for (const h of hs) h.dispose();
      },
    });
  }

  /**
   * Send one JSON-RPC message: a string, or its UTF-8 in pieces (a large reply), sent as one text
   * message in fragments, one per piece (RFC 6455 §5.4; a fragment may end inside a character,
   * the message as a whole is valid UTF-8), so the pieces are never joined into one buffer.
   */
  send(text: string | readonly Buffer[]): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (typeof text === 'string') {
      this.coalesce(text.length);
      this.ws.send(text, { binary: false }, this.onSent);
    } else {
      this.coalesce(Infinity);
      this.sendFragments(text, false);
    }
  }

  notify(method: string, params: unknown): void {
    this.send(encodeNotification(method, params));
  }

  /** Close from the server side (a revoked credential: 4401); terminated if the peer does not answer within a second. */
  close(code: number, reason: string): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) closeSoon(this.ws, code, reason);
  }

  sendFrame(frame: string | Uint8Array | readonly Uint8Array[], onSent?: () => void): boolean {
    if (this.ws.readyState !== this.ws.OPEN) {
      // Not at once: a caller may send the same parts to other connections in the same turn.
      if (onSent) process.nextTick(onSent);
      return true;
    }
    this.coalesce(typeof frame === 'string' ? frame.length : Infinity);
    // ws calls back once the socket has written the frame, or with an error once it cannot.
    const sent = onSent ? () => (this.onSent(), onSent()) : this.onSent;
    if (typeof frame === 'string' || !Array.isArray(frame)) {
      this.ws.send(frame as string | Uint8Array, { binary: typeof frame !== 'string' }, sent);
    } else this.sendFragments(frame, true, sent);
    return this.ws.bufferedAmount < this.highWater;
  }

  /**
   * One message in fragments (ws writes each part as it is, unmasked on the server side: no
   * copy). All parts go out in this synchronous call, so nothing can interleave; corked, so they
   * leave in one writev, not one per fragment.
   */
  private sendFragments(parts: readonly Uint8Array[], binary: boolean, sent: () => void = this.onSent): void {
    const last = parts.length - 1;
    this.socket?.cork();
    try {
      // The socket writes in order: the last fragment's callback comes after every part's write.
      for (let i = 0; i < last; i++) this.ws.send(parts[i]!, { binary, fin: false });
      this.ws.send(last >= 0 ? parts[last]! : Buffer.alloc(0), { binary, fin: true }, sent);
    } finally {
      // Never left corked (a corked socket holds every later write).
      this.socket?.uncork();
    }
  }

  /**
   * Small messages a connection is sent during one event-loop iteration leave in one write: the
   * socket is corked at the first and uncorked in the iteration's check phase. An event fanned
   * out to hundreds of connections, several times per iteration, was one writev system call per
   * event per connection — most of a publisher flood's cost (test/abuse, non-reading
   * subscribers). A large or binary message (a big reply, exec output) first flushes what is
   * corked and goes out at once: held to the check phase, streamed output cost the server 60%
   * more CPU and lost a quarter of its throughput (bench/exec stream).
   */
  private coalesce(size: number): void {
    if (!this.socket) return;
    if (size > COALESCE_MAX_CHARS) {
      if (this.corked) this.flush();
      return;
    }
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    setImmediate(this.flushSoon);
  }

  private readonly flushSoon = (): void => {
    if (this.corked) this.flush();
  };

  private flush(): void {
    this.corked = false;
    this.socket?.uncork();
  }

  /**
   * A frame reached the socket: wake the writable waiters as soon as the buffer is under the
   * low-water mark (the 10 ms poll alone capped a streaming connection at ~1 MiB per poll).
   */
  private readonly onSent = (): void => {
    if (this.writableWaiters.length === 0 || this.ws.bufferedAmount >= this.highWater / 2) return;
    if (this.ws.readyState !== this.ws.OPEN) return;
    clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    const waiters = this.writableWaiters;
    this.writableWaiters = [];
    for (const w of waiters) w();
  };

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  onWritable(cb: () => void): void {
    this.writableWaiters.push(cb);
    if (this.drainTimer) return;
    // ws has no drain event of its own; poll the buffered amount while someone waits.
    const check = () => {
      this.drainTimer = undefined;
      if (this.ws.readyState !== this.ws.OPEN) {
        this.writableWaiters = [];
        return;
      }
      if (this.ws.bufferedAmount >= this.highWater / 2) {
        this.drainTimer = setTimeout(check, 10);
        return;
      }
      const waiters = this.writableWaiters;
      this.writableWaiters = [];
      for (const w of waiters) w();
    };
    this.drainTimer = setTimeout(check, 10);
  }
}

/**
 * JSON-RPC 2.0 over WebSocket at one path. Upgrades are checked in order: Host (403), Origin
 * (403, whatever the token), token (close 4401). Each connection owns a DisposableStore.
 */
export class WsGateway implements Disposable {
  private readonly wss: WebSocketServer;
  private readonly peers = new Set<Peer>();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(private readonly opts: WsGatewayOptions) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: opts.hardMaxMessageBytes,
      perMessageDeflate: false,
      clientTracking: false,
    });
    this.heartbeat = startHeartbeat(opts.heartbeatMs, () => this.peers, (p) =>
      this.opts.logger.info('ws: dropping peer that missed heartbeat', { connection: (p as Peer).session.info.id }),
    );
  }

  get connectionCount(): number {
    return this.peers.size;
  }

  /** Handle an HTTP upgrade request for this gateway's path. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    acceptUpgrade(this.wss, req, socket, head, this.opts, 'ws', (ws, info, _url, principal) => this.accept(ws, info, principal, socket));
  }

  private accept(ws: WebSocket, info: ConnectionInfo, principal: Principal, socket: Duplex): void {
    const session = new WsSession(ws, info, this.opts.highWaterBytes, socket);
    const holds = new Set<string>();
    const hold = (reason: string, on: boolean) => {
      if (on) holds.add(reason);
      else holds.delete(reason);
      if (ws.readyState !== ws.OPEN) return;
      if (holds.size && !ws.isPaused) ws.pause();
      else if (!holds.size && ws.isPaused) ws.resume();
    };
    const peer: Peer = { ws, alive: true, session, turns: new MessageTurns(MESSAGES_PER_TURN, (waiting) => hold('backlog', waiting)), hold };
    this.peers.add(peer);
    const registration = this.opts.onConnection(info, session);
    // Fires when the socket closes: calls still running (a search, a read waiting for budget) stop.
    const gone = new AbortController();
    // Every call waiting on this connection (a read queued for budget, a search) listens to it;
    // hundreds may wait at once (bounded by the read budget's queue), which is not a leak.
    setMaxListeners(0, gone.signal);
    const rb = this.opts.readBudgets;
    const readBudget = rb
      ? new ByteBudget({ max: rb.perConnection, limitName: 'maxInflightReadBytesPerConnection', maxWaiting: MAX_WAITING_READS_PER_CONNECTION, parent: rb.server })
      : undefined;
    const ctxBase: Omit<MethodContext, 'afterReply'> = { connection: info, principal, session, signal: gone.signal, readBudget };

    ws.on('pong', () => {
      peer.alive = true;
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      peer.alive = true;
      // Closing (a revoked credential, shutdown): frames still arriving are not calls any more.
      if (ws.readyState !== ws.OPEN) return;
      if (isBinary) {
        session.send(JSON.stringify(errorResponse(null, new IcpyError('INVALID_REQUEST', 'Binary frames are not accepted on this endpoint'))));
        return;
      }
      if (data.length > this.opts.maxMessageBytes) {
        session.send(
          JSON.stringify(
            errorResponse(
              null,
              new IcpyError('MESSAGE_TOO_LARGE', `Message of ${data.length} bytes exceeds the limit of ${this.opts.maxMessageBytes} bytes`, {
                limit: this.opts.maxMessageBytes,
                size: data.length,
              }),
            ),
          ),
        );
        return;
      }
      const text = data.toString('utf8');
      peer.turns.run(() => void this.onMessage(text, ctxBase, peer));
    });
    ws.on('error', (err) => this.opts.logger.debug('ws: socket error', { connection: info.id, ...describeError(err) }));
    ws.once('close', () => {
      this.peers.delete(peer);
      peer.turns.dispose();
      gone.abort(new IcpyError('UNAVAILABLE', 'The WebSocket closed', { reason: 'aborted' }));
      void session.resources.dispose().catch((err) => this.opts.logger.error('ws: dispose failed', describeError(err)));
      void registration.dispose();
    });
  }

  private async onMessage(text: string, ctxBase: Omit<MethodContext, 'afterReply'>, peer: Peer): Promise<void> {
    const session = peer.session;
    const after: (() => void)[] = [];
    const ctx: MethodContext = { ...ctxBase, afterReply: (fn) => after.push(fn) };
    try {
      const reply = await handleJsonRpcText(this.opts.dispatcher, text, ctx, this.opts.rpc);
      if (reply !== undefined) {
        session.send(reply);
        this.throttle(peer);
      }
    } catch (err) {
      this.opts.logger.error('ws: failed to handle message', describeError(err));
    } finally {
      for (const fn of after) {
        try {
          fn();
        } catch (err) {
          this.opts.logger.error('ws: afterReply callback failed', describeError(err));
        }
      }
    }
  }

  /**
   * A client that does not read its replies stops being read: above the high-water mark of unsent
   * bytes the socket is paused (no new requests are taken from it) until it drains, so requests
   * pipelined by a non-reading client cannot pile their replies up in server memory.
   */
  private throttle(peer: Peer): void {
    const { ws } = peer.session;
    if (ws.bufferedAmount < this.opts.highWaterBytes) return;
    peer.hold('unread replies', true);
    peer.session.onWritable(() => peer.hold('unread replies', false));
  }

  /** Close every connection (1001 Going Away) and stop the heartbeat. */
  async dispose(): Promise<void> {
    clearInterval(this.heartbeat);
    const closing = [...this.peers].map(
      (p) =>
        new Promise<void>((resolve) => {
          // Resolve on 'close' so each connection's own cleanup has run before the caller goes on
          // to dispose what that cleanup uses (the broker).
          p.ws.once('close', () => resolve());
          p.ws.close(CloseCode.GoingAway, 'Server shutting down');
          setTimeout(() => p.ws.terminate(), 500).unref();
          setTimeout(resolve, 2000).unref();
        }),
    );
    await Promise.all(closing);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
