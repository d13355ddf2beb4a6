import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { WebSocketServer, type WebSocket } from 'ws';
import * as Y from 'yjs';
import type { DocPeer, DocRoom, DocRooms } from '../../core/docs.js';
import { IcpyError } from '../../core/errors.js';
import type { Disposable } from '../../core/lifecycle.js';
import { describeError, type Logger } from '../../core/logger.js';
import type { ConnectionInfo, Scope } from '../../core/rpc/index.js';
import { hasScope, type Authenticator, type Principal } from '../../core/principal.js';
import { acceptUpgrade, closeForFailure, closeSoon, pausingTurns, refusalCode, shutdownEndpoint, startHeartbeat } from '../ws-upgrade.js';
import type { WebSession } from '../web-session.js';

/** y-websocket message types (the first varUint of every frame). */
export const YMessage = { Sync: 0, Awareness: 1, Auth: 2, QueryAwareness: 3 } as const;
/** y-protocols sync message types (the second varUint of a Sync frame). */
const SyncStep1 = 0;
const SyncStep2 = 1;
const SyncUpdate = 2;

/**
 * Close codes of /api/yjs. An error from joining a room closes with 4000 + its HTTP status
 * (4403 outside the workspace, 4404 missing file, 4400 a folder, 4415 not text, 4413 too large,
 * 4429 a limit, 4410 deleted); the reason is the error's message.
 */
export const YjsClose = {
  Normal: 1000,
  GoingAway: 1001,
  UnsupportedData: 1003,
  MessageTooBig: 1009,
  InternalError: 1011,
  TryAgainLater: 1013,
  BadRequest: 4400,
  Unauthorized: 4401,
  ReadOnly: 4403,
} as const;

export const closeCodeOf = refusalCode;

export interface YjsGatewayOptions {
  rooms: DocRooms;
  logger: Logger;
  /** Upgrades under this path prefix are rooms: `/api/yjs/` + the percent-encoded file path. */
  prefix: string;
  authenticate: Authenticator;
  /**
   * For a path-limited principal: refuse (throw FORBIDDEN) a room outside its limits, named or
   * reached through a symlink (the dispatcher's path check). The peer is then closed 4403.
   */
  checkPath?: (principal: Principal, path: string) => Promise<void>;
  boundToLoopback: boolean;
  allowedHosts: readonly string[];
  allowedOrigins: readonly string[];
  /** The owner's browser session cookie, accepted on upgrades without a token (ws-upgrade.ts). */
  session?: WebSession;
  admit?: () => IcpyError | undefined;
  heartbeatMs: number;
  /** Frames above this close the socket with 1009 (they are not read). */
  maxMessageBytes: number;
  /**
   * A peer whose socket holds more unsent bytes than this is too slow to follow the document:
   * it is closed with 1013 and resyncs on reconnect (what a provider does by itself), so a
   * stalled reader cannot grow server memory.
   */
  maxBufferedBytes: number;
  /**
   * Register the connection (connections.list, maxConnections); disposed when it closes. `close`
   * ends it from the server side (a revoked credential: 4401).
   */
  onConnection: (info: ConnectionInfo, close: (code: number, reason: string) => void) => Disposable;
}

/** Messages a peer may send before its room is loaded; one more closes it (1008 would also do). */
const MAX_EARLY_MESSAGES = 64;
/** Frames one peer starts per event-loop iteration (see MessageTurns). */
const MESSAGES_PER_TURN = 8;
type Decoded =
  | { kind: 'step1' | 'update' | 'awareness'; payload: Uint8Array }
  | { kind: 'query-awareness' | 'refused-edit' | 'ignored' };

/**
 * Decode one frame. Throws on bytes that are not a y-websocket message (truncated varints,
 * lengths past the end, a Yjs update that does not parse). Unknown message types are ignored, as
 * y-websocket's own server does; auth messages too (the token was checked at the upgrade).
 */
export function decodeFrame(bytes: Uint8Array, readOnly: boolean): Decoded {
  const dec = decoding.createDecoder(bytes);
  const type = decoding.readVarUint(dec);
  if (type === YMessage.Sync) {
    const step = decoding.readVarUint(dec);
    const payload = decoding.readVarUint8Array(dec);
    if (step === SyncStep1) return { kind: 'step1', payload };
    if (step !== SyncStep2 && step !== SyncUpdate) throw new IcpyError('INVALID_PARAMS', `Unknown sync message type ${step}`);
    // A read-only server takes the empty update a provider sends as its step 2, and nothing else.
    if (readOnly) return isEmptyUpdate(payload) ? { kind: 'ignored' } : { kind: 'refused-edit' };
    return { kind: 'update', payload };
  }
  if (type === YMessage.Awareness) return { kind: 'awareness', payload: decoding.readVarUint8Array(dec) };
  if (type === YMessage.QueryAwareness) return { kind: 'query-awareness' };
  return { kind: 'ignored' };
}

/**
 * A y-websocket frame: the message type, the sync step (Sync frames), then the payload with its
 * length. Built with one copy of the payload (a 2 MB sync step 2 is not copied twice through an
 * encoder); small frames come from Node's buffer pool.
 */
function frame(type: number, step: number | undefined, payload: Uint8Array): Uint8Array {
  const head = encoding.createEncoder();
  encoding.writeVarUint(head, type);
  if (step !== undefined) encoding.writeVarUint(head, step);
  encoding.writeVarUint(head, payload.length);
  const h = encoding.toUint8Array(head);
  const out = Buffer.allocUnsafe(h.length + payload.length);
  out.set(h, 0);
  out.set(payload, h.length);
  return out;
}

/** True when a Yjs update carries no change (the empty update a provider sends as sync step 2). */
function isEmptyUpdate(update: Uint8Array): boolean {
  const { structs, ds } = Y.decodeUpdate(update);
  return structs.length === 0 && ds.clients.size === 0;
}

/**
 * The frame of the update being broadcast. A room hands every peer the same update object in one
 * synchronous loop, so the frame is built once and the same bytes go to every peer. One slot per
 * message type, let go in the next microtask: no frame outlives its broadcast (a 2 MB sync update
 * is not kept).
 */
export class BroadcastFrames {
  private readonly slots = new Map<number, { update: Uint8Array; bytes: Uint8Array }>();
  private clearing = false;

  get(update: Uint8Array, type: typeof YMessage.Sync | typeof YMessage.Awareness): Uint8Array {
    const slot = this.slots.get(type);
    if (slot?.update === update) return slot.bytes;
    const bytes = type === YMessage.Sync ? frame(YMessage.Sync, SyncUpdate, update) : frame(YMessage.Awareness, undefined, update);
    this.slots.set(type, { update, bytes });
    if (!this.clearing) {
      this.clearing = true;
      queueMicrotask(() => {
        this.clearing = false;
        this.slots.clear();
      });
    }
    return bytes;
  }
}

interface YPeer extends DocPeer {
  readonly ws: WebSocket;
  /** Who this peer authenticated as: a peer without `write` may not send updates (4403). */
  readonly principal: Principal;
  alive: boolean;
  room?: DocRoom;
  closed: boolean;
}

/**
 * The y-websocket protocol at `WS /api/yjs/{path}`: one room per workspace file, held by the
 * documents service. Upgrades are checked like /api/ws (Host 403 → Origin 403 → admission 429 →
 * token 4401). This transport only decodes and encodes frames; every update and awareness change
 * goes through the room (`DocRoom`), which relays it to the other peers.
 */
export class YjsGateway implements Disposable {
  private readonly wss: WebSocketServer;
  private readonly peers = new Set<YPeer>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly framed = new BroadcastFrames();

  constructor(private readonly opts: YjsGatewayOptions) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxMessageBytes, perMessageDeflate: false, clientTracking: false });
    this.heartbeat = startHeartbeat(opts.heartbeatMs, () => this.peers);
  }

  get connectionCount(): number {
    return this.peers.size;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    acceptUpgrade(this.wss, req, socket, head, this.opts, 'yjs', (ws, info, _url, principal) => {
      // The raw request path, not URL's: URL would resolve `..` segments before the documents
      // service could refuse them as outside the workspace (4403).
      const path = roomPath((req.url ?? '').split('?')[0]!, this.opts.prefix);
      if (path instanceof IcpyError) return closeSoon(ws, closeCodeOf(path), path.message);
      this.accept(ws, info, path, principal);
    });
  }

  private accept(ws: WebSocket, info: ConnectionInfo, path: string, principal: Principal): void {
    const peer: YPeer = {
      ws,
      connection: info,
      principal,
      alive: true,
      closed: false,
      sendUpdate: (update) => this.send(peer, this.framed.get(update, YMessage.Sync)),
      sendAwareness: (update) => this.send(peer, this.framed.get(update, YMessage.Awareness)),
      close: (code, reason) => this.close(peer, code, reason),
    };
    this.peers.add(peer);
    const registration = this.opts.onConnection(info, (code, reason) => this.close(peer, code, reason));
    const turns = pausingTurns(ws, MESSAGES_PER_TURN);
    const early: Buffer[] = [];
    ws.on('pong', () => (peer.alive = true));
    ws.on('error', (err) => this.opts.logger.debug('yjs: socket error', { connection: info.id, ...describeError(err) }));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      peer.alive = true;
      if (peer.closed) return;
      if (!isBinary) return this.close(peer, YjsClose.UnsupportedData, 'y-websocket frames are binary');
      if (!peer.room) {
        if (early.length >= MAX_EARLY_MESSAGES) return this.close(peer, YjsClose.TryAgainLater, 'Too many messages before the document was loaded');
        early.push(data);
        return;
      }
      turns.run(() => this.onFrame(peer, data));
    });
    ws.once('close', () => {
      peer.closed = true;
      this.peers.delete(peer);
      turns.dispose();
      try {
        peer.room?.leave(peer);
      } catch (err) {
        this.opts.logger.error('yjs: leaving the room failed', { path, ...describeError(err) });
      }
      void registration.dispose();
    });

    const check = principal.paths && this.opts.checkPath ? this.opts.checkPath(principal, path) : undefined;
    (check ? check.then(() => this.opts.rooms.join(path, peer)) : this.opts.rooms.join(path, peer)).then(
      (room) => {
        if (peer.closed) {
          room.leave(peer);
          return;
        }
        peer.room = room;
        // The server opens the sync (as y-websocket's own server does): its state vector, then
        // every awareness state it knows; the provider answers with step 2 and its own step 1.
        this.send(peer, frame(YMessage.Sync, SyncStep1, room.encodeStateVector()));
        const states = room.encodeAwareness();
        if (states) peer.sendAwareness(states);
        for (const data of early.splice(0)) turns.run(() => this.onFrame(peer, data));
      },
      (err: unknown) => {
        const { code, reason } = closeForFailure(err, this.opts.logger, 'yjs: joining a room', { path });
        this.close(peer, code, reason);
      },
    );
  }

  /**
   * One y-websocket frame from a joined peer. Bytes that do not decode close that peer only
   * (4400): the room never sees them, so the other peers keep syncing.
   */
  private onFrame(peer: YPeer, data: Buffer): void {
    const room = peer.room;
    if (!room || peer.closed) return;
    let msg: Decoded;
    try {
      msg = decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), !hasScope(peer.principal, 'write'));
    } catch (err) {
      this.close(peer, YjsClose.BadRequest, err instanceof IcpyError ? err.message : 'Malformed y-websocket message');
      return;
    }
    try {
      switch (msg.kind) {
        case 'step1': {
          this.send(peer, frame(YMessage.Sync, SyncStep2, room.encodeStateAsUpdate(msg.payload)));
          return;
        }
        case 'update':
          room.applyUpdate(msg.payload, peer);
          return;
        case 'refused-edit':
          this.close(peer, YjsClose.ReadOnly, readOnlyReason(peer.principal));
          return;
        case 'awareness':
          room.applyAwareness(msg.payload, peer);
          return;
        case 'query-awareness': {
          const states = room.encodeAwareness();
          if (states) peer.sendAwareness(states);
          return;
        }
        case 'ignored':
          return;
      }
    } catch (err) {
      if (err instanceof IcpyError) {
        this.close(peer, err.code === 'INVALID_PARAMS' ? YjsClose.BadRequest : closeCodeOf(err), err.message);
        return;
      }
      this.opts.logger.error('yjs: handling a message failed', { path: room.path, connection: peer.connection.id, ...describeError(err) });
      this.close(peer, YjsClose.InternalError, 'Internal error');
    }
  }

  private send(peer: YPeer, bytes: Uint8Array): void {
    const ws = peer.ws;
    if (peer.closed || ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > this.opts.maxBufferedBytes) {
      this.opts.logger.info('yjs: dropping a peer that does not read', { connection: peer.connection.id, buffered: ws.bufferedAmount });
      this.close(peer, YjsClose.TryAgainLater, 'Too far behind: reconnect to resync');
      return;
    }
    ws.send(bytes, { binary: true });
  }

  private close(peer: YPeer, code: number, reason: string): void {
    if (peer.closed) return;
    peer.closed = true;
    closeSoon(peer.ws, code, reason);
  }

  /** Close every connection (1001 Going Away), waiting for each close. */
  async dispose(): Promise<void> {
    await shutdownEndpoint(this.wss, this.heartbeat, this.peers, (p) => this.close(p, YjsClose.GoingAway, 'Server shutting down'));
  }

}

/** Why a peer's edit is refused: the server is read-only, or this credential has no write scope. */
function readOnlyReason(p: Principal): string {
  if (p.kind === 'owner') return 'This server is read-only: edits are not accepted';
  return `${p.name} has no 'write' scope: edits are not accepted`;
}

/** The workspace path of a room URL (`/api/yjs/src/app.py` → `src/app.py`), or why it is not one. */
export function roomPath(pathname: string, prefix: string): string | IcpyError {
  const raw = pathname.startsWith(prefix) ? pathname.slice(prefix.length) : '';
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    return new IcpyError('INVALID_PARAMS', 'The room name is not valid percent-encoding', { field: 'path' });
  }
  if (!path) return new IcpyError('INVALID_PARAMS', 'No file path after /api/yjs/', { field: 'path' });
  if (path.includes('\0')) return new IcpyError('INVALID_PARAMS', 'The file path contains a NUL character', { field: 'path' });
  return path;
}
