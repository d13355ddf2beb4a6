import { randomInt } from 'node:crypto';
import * as Y from 'yjs';
import { applyAwarenessUpdate, removeAwarenessStates, type Awareness } from 'y-protocols/awareness';
import { SYSTEM_SOURCE, type Broker, type EventSource, type Subscription } from '../../core/broker/index.js';
import { IcpyError } from '../../core/errors.js';
import { DisposableStore, type Disposable } from '../../core/lifecycle.js';
import { describeError, type Logger } from '../../core/logger.js';
import type { ConnectionInfo } from '../../core/rpc/index.js';
import { encodeAwareness, screenAwarenessUpdate, MAX_AWARENESS_STATE_BYTES, type ScreenResult } from './awareness-wire.js';
import { LineIndex, type Pos } from './line-index.js';
import { EditOrigin } from './live-doc.js';

export type { Pos } from './line-index.js';

/** What presence needs of a live document (LiveDoc satisfies it). */
export interface PresenceRoom {
  readonly path: string;
  readonly doc: Y.Doc;
  readonly text: Y.Text;
  readonly awareness: Awareness;
  /** The connection of the peer that sent this awareness client id, if it is one of the room's peers. */
  connectionOf(clientId: number): ConnectionInfo | undefined;
}

/** What presence needs of the documents service (DocService satisfies it). */
export interface PresenceRooms {
  onOpened(cb: (room: PresenceRoom) => void): Disposable;
  onClosed(cb: (room: PresenceRoom) => void): Disposable;
  loaded(path: string): PresenceRoom | undefined;
}

export type PresenceKind = 'browser' | 'cli' | 'agent';

export interface PresenceSelection {
  anchor: Pos;
  head: Pos;
}

/** One client as every other client sees it (LSP positions, UTF-16). */
export interface PresenceEntry {
  id: string;
  connectionId: string;
  name: string;
  kind: PresenceKind;
  color: string;
  /** `yjs`: read from a room's awareness; `rpc`: set with presence.update / by editing through docs.applyEdits. */
  via: 'yjs' | 'rpc';
  activeFile?: string;
  cursor?: Pos;
  /** Present when the selection is not empty (anchor ≠ head); `cursor` is its head. */
  selection?: PresenceSelection;
  updatedAt: number;
}

/** presence.update params: omitted = unchanged, null = cleared. */
export interface PresenceUpdate {
  activeFile?: string | null;
  cursor?: Pos | null;
  selection?: PresenceSelection | null;
  name?: string;
  color?: string;
}

export type PresenceChange = 'added' | 'updated' | 'removed';

export interface PresenceChangedEvent {
  id: string;
  change: PresenceChange;
  entry: PresenceEntry;
}

/** A client that shows no sign of life for this long is removed (y-protocols' own outdatedTimeout). */
export const PRESENCE_TIMEOUT_MS = 30_000;
/** Awareness changes arrive per keystroke; presence.changed is sent at most once per entry per window. */
export const PRESENCE_COALESCE_MS = 50;
export const MAX_PRESENCE_NAME = 64;
/** Origin of the awareness changes presence makes (injected RPC clients, timeouts). */
export const PRESENCE_ORIGIN = 'icpy-presence';
export const HEX_COLOR = /^#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$/;

/** Distinct on light and dark backgrounds. */
export const PRESENCE_PALETTE: readonly string[] = [
  '#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4',
  '#f032e6', '#469990', '#9a6324', '#800000', '#808000', '#000075',
];

/** The colour of a client that did not choose one: the same for the same id, every run. */
export function colorFor(id: string): string {
  let h = 0x811c9dc5; // FNV-1a
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return PRESENCE_PALETTE[(h >>> 0) % PRESENCE_PALETTE.length]!;
}

export interface PresenceOptions {
  /** Silent clients are removed after this many ms (default 30 000). */
  timeoutMs?: number;
  coalesceMs?: number;
  /** Most RPC presence entries at once (LIMIT_EXCEEDED beyond, with `limit`). */
  maxEntries?: number;
  maxEntriesLimit?: string;
  /** Most bytes of one awareness state a peer may send (bigger ones are dropped, never relayed). */
  maxStateBytes?: number;
  /** The document path an RPC client names, as the documents service keys it. */
  normalizePath?: (path: string) => string;
  logger?: Logger;
}

interface Held {
  id: string;
  via: 'yjs' | 'rpc';
  connectionId: string;
  source: EventSource;
  kind: PresenceKind;
  name: string;
  color: string;
  activeFile?: string;
  /** The awareness client id: a Yjs client's own, or the one the server injects an RPC client under. */
  clientId: number;
  /** Anchored in the loaded document (moves with edits); set for Yjs clients and for injected RPC clients. */
  rel?: { anchor: Y.RelativePosition; head: Y.RelativePosition };
  /** RPC: positions as last given, while its document is not loaded. */
  abs?: { anchor: Pos; head: Pos };
  updatedAt: number;
  /** RPC without a WebSocket: removed at this time unless renewed. */
  expiresAt?: number;
  /** RPC: when its awareness state was last (re)sent; renewed before peers time it out. */
  injectedAt?: number;
}

interface RoomState {
  room: PresenceRoom;
  /** Yjs awareness client id → entry id. */
  clients: Map<number, string>;
  /** Where the last RPC edit (docs.applyEdits, a files.write merge) ended, and whose it was. */
  lastEdit?: { connectionId: string; offset: number };
  off: () => void;
}

/**
 * One presence model for every client. Yjs clients are read from each open document's awareness;
 * clients that do not speak Yjs (CLI, agents over RPC) set theirs with `update` (or `touch` when
 * they edit) and are injected into the awareness of their active file's room, so editor bindings
 * show them like any human. Every change is published as `presence.changed`, coalesced.
 */
export class PresenceService implements Disposable {
  private readonly entries = new Map<string, Held>();
  private readonly rooms = new Map<string, RoomState>();
  /** Client ids the server injects under; a peer claiming one is ignored. */
  private readonly injectedIds = new Set<number>();
  private readonly published = new Map<string, PresenceEntry>();
  private readonly dirty = new Set<string>();
  private readonly store = new DisposableStore();
  private rpcCount = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private disposed = false;
  readonly timeoutMs: number;
  private readonly coalesceMs: number;
  private readonly sweepMs: number;

  constructor(
    docs: PresenceRooms,
    private readonly broker: Broker,
    private readonly options: PresenceOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? PRESENCE_TIMEOUT_MS;
    this.coalesceMs = options.coalesceMs ?? PRESENCE_COALESCE_MS;
    this.sweepMs = Math.max(10, Math.min(1000, Math.floor(this.timeoutMs / 10)));
    this.store.add(docs.onOpened((room) => this.roomOpened(room)));
    this.store.add(docs.onClosed((room) => this.roomClosed(room)));
    const closed: Subscription = broker.subscribe(['connection.closed'], (ev) => {
      const id = (ev.data as { id?: unknown }).id;
      if (typeof id === 'string') this.removeRpc(id);
    });
    this.store.add(closed);
  }

  /** Every entry, or those whose active file is `path`. Positions are computed from the current text. */
  list(path?: string): PresenceEntry[] {
    const wanted = path === undefined ? undefined : this.normalize(path);
    const cache = new Map<string, LineIndex>();
    const out: PresenceEntry[] = [];
    for (const held of this.entries.values()) {
      if (wanted !== undefined && held.activeFile !== wanted) continue;
      out.push(this.materialize(held, cache));
    }
    return out;
  }

  /** Set the caller's presence (an RPC client). It appears in the awareness of its active file's room. */
  update(connection: ConnectionInfo, u: PresenceUpdate): PresenceEntry {
    return this.upsertRpc(connection, u);
  }

  /**
   * An RPC client edited `path` (docs.applyEdits, files.write…): it becomes its active file with the
   * cursor at `offset` (UTF-16, in the current text; default: the end of its last edit there), so it
   * shows in awareness like a human typing. Never throws (a full presence table only means it is
   * not shown).
   */
  touch(connection: ConnectionInfo, path: string, offset?: number): void {
    try {
      const rs = this.rooms.get(this.normalize(path));
      if (offset === undefined && rs?.lastEdit?.connectionId === connection.id) offset = rs.lastEdit.offset;
      if (!rs || offset === undefined) return void this.upsertRpc(connection, { activeFile: path });
      const pos = new LineIndex(rs.room.text.toString()).positionAt(offset);
      this.upsertRpc(connection, { activeFile: path, cursor: pos, selection: null }, { offset });
    } catch (err) {
      this.options.logger?.debug('presence: touch ignored', { path, ...describeError(err) });
    }
  }

  /** Remove the caller's RPC presence; false when it had none. */
  leave(connection: ConnectionInfo): boolean {
    return this.removeRpc(rpcIdOf(connection));
  }

  /**
   * Screen a peer's awareness update before the room applies (and relays) it. Nothing of an
   * update that holds a bad state is applied, and the peer is told why (the Yjs transport closes
   * it with 4000 + the HTTP status): a state over the size bound → MESSAGE_TOO_LARGE (4413); a
   * state that is not JSON → INVALID_PARAMS (4400). A state under a client id the server injects
   * for an RPC client is left out silently: y-websocket providers echo every awareness change they
   * receive back to the server, so that is what a well-behaved peer sends too.
   */
  screen(update: Uint8Array, from?: ConnectionInfo): ScreenResult {
    const max = this.options.maxStateBytes ?? MAX_AWARENESS_STATE_BYTES;
    const result = screenAwarenessUpdate(update, { maxStateBytes: max, reserved: (id) => this.injectedIds.has(id) });
    const bad = result.dropped.find((d) => d.reason !== 'reserved');
    if (!bad) return result;
    this.options.logger?.warn('presence: awareness update refused', { connectionId: from?.id, dropped: result.dropped.slice(0, 8), bytes: update.byteLength });
    if (bad.reason === 'too-large') {
      throw new IcpyError('MESSAGE_TOO_LARGE', `An awareness state larger than ${max} bytes is not accepted`, { limit: 'awarenessStateBytes', max, clientId: bad.clientId });
    }
    throw new IcpyError('INVALID_PARAMS', 'An awareness state is not JSON', { field: 'awareness', clientId: bad.clientId });
  }

  /** Whether the server injects states under this awareness client id. */
  isInjected(clientId: number): boolean {
    return this.injectedIds.has(clientId);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    clearTimeout(this.flushTimer);
    clearInterval(this.sweepTimer);
    for (const rs of this.rooms.values()) rs.off();
    this.rooms.clear();
    this.entries.clear();
    this.injectedIds.clear();
    this.published.clear();
    this.dirty.clear();
    this.store.dispose();
  }

  // ---- RPC clients

  private upsertRpc(connection: ConnectionInfo, u: PresenceUpdate, at?: { offset: number }): PresenceEntry {
    if (this.disposed) throw new IcpyError('UNAVAILABLE', 'The server is shutting down');
    const id = rpcIdOf(connection);
    let held = this.entries.get(id);
    const now = Date.now();
    if (!held) {
      const max = this.options.maxEntries;
      if (max !== undefined && this.rpcCount >= max) {
        const limit = this.options.maxEntriesLimit ?? 'maxConnections';
        throw new IcpyError('LIMIT_EXCEEDED', `${this.rpcCount} clients have presence, the maximum (${limit} = ${max})`, { limit, max });
      }
      held = {
        id,
        via: 'rpc',
        connectionId: connection.id,
        source: sourceOfConnection(connection),
        kind: kindOf(connection.kind),
        name: clip(connection.name) || id,
        color: colorFor(id),
        clientId: this.allocateClientId(),
        updatedAt: now,
      };
      this.entries.set(id, held);
      this.injectedIds.add(held.clientId);
      this.rpcCount++;
    }
    held.connectionId = connection.id;
    held.kind = kindOf(connection.kind);
    held.source = { ...sourceOfConnection(connection), name: u.name ?? held.name };
    if (u.name !== undefined) held.name = clip(u.name) || held.name;
    if (u.color !== undefined) held.color = u.color;
    held.updatedAt = now;
    held.expiresAt = connection.transport === 'ws' ? undefined : now + this.timeoutMs;

    const before = held.activeFile;
    if (u.activeFile !== undefined) held.activeFile = u.activeFile === null ? undefined : this.normalize(u.activeFile);
    const moved = held.activeFile !== before;
    // A new cursor (or a new file, whose positions the old ones do not describe) replaces the old.
    if (moved || u.cursor !== undefined || u.selection !== undefined) {
      held.rel = undefined;
      const sel = u.selection ?? undefined;
      const head = sel?.head ?? u.cursor ?? undefined;
      held.abs = head ? { anchor: sel?.anchor ?? head, head } : undefined;
    }
    if (moved && before !== undefined) this.withdraw(held, before);
    const rs = held.activeFile === undefined ? undefined : this.rooms.get(held.activeFile);
    if (rs) this.inject(held, rs, at?.offset);
    this.markDirty(id);
    this.ensureSweep();
    return this.materialize(held, new Map());
  }

  private removeRpc(id: string): boolean {
    const held = this.entries.get(id);
    if (!held || held.via !== 'rpc') return false;
    if (held.activeFile !== undefined) this.withdraw(held, held.activeFile);
    this.entries.delete(id);
    this.injectedIds.delete(held.clientId);
    this.rpcCount--;
    this.markDirty(id);
    return true;
  }

  /** Put (or renew) an RPC client's state into a room's awareness; every peer receives it. */
  private inject(held: Held, rs: RoomState, offset?: number): void {
    const { room } = rs;
    if (!held.rel) {
      let anchor: number | undefined;
      let head: number | undefined;
      if (offset !== undefined) anchor = head = Math.max(0, Math.min(offset, room.text.length));
      else if (held.abs) {
        const index = new LineIndex(room.text.toString());
        anchor = index.offsetAt(held.abs.anchor);
        head = index.offsetAt(held.abs.head);
      }
      if (anchor !== undefined && head !== undefined) {
        held.rel = { anchor: Y.createRelativePositionFromTypeIndex(room.text, anchor), head: Y.createRelativePositionFromTypeIndex(room.text, head) };
        held.abs = undefined;
      }
    }
    const cursor = held.rel ? { anchor: Y.relativePositionToJSON(held.rel.anchor), head: Y.relativePositionToJSON(held.rel.head) } : null;
    // `cursor` is y-codemirror's field, `selection` y-monaco's: both bindings draw the agent.
    const state = { user: { name: held.name, color: held.color, kind: held.kind }, cursor, selection: cursor };
    this.applyInjected(room, held.clientId, JSON.stringify(state));
    held.injectedAt = Date.now();
  }

  /** Remove an RPC client's state from a room's awareness (its peers see it leave). */
  private withdraw(held: Held, path: string): void {
    const rs = this.rooms.get(path);
    if (!rs || !rs.room.awareness.states.has(held.clientId)) return;
    if (held.rel && held.activeFile === path) held.abs = this.absOf(held, rs.room, new Map());
    this.applyInjected(rs.room, held.clientId, 'null');
  }

  private applyInjected(room: PresenceRoom, clientId: number, json: string): void {
    const clock = (room.awareness.meta.get(clientId)?.clock ?? 0) + 1;
    applyAwarenessUpdate(room.awareness, encodeAwareness([{ clientId, clock, json }]), PRESENCE_ORIGIN);
  }

  private allocateClientId(): number {
    for (;;) {
      const id = randomInt(1, 2 ** 32 - 1);
      if (this.injectedIds.has(id)) continue;
      let used = false;
      for (const rs of this.rooms.values()) if (rs.room.awareness.meta.has(id) || rs.room.doc.clientID === id) used = true;
      if (!used) return id;
    }
  }

  // ---- Yjs clients

  private roomOpened(room: PresenceRoom): void {
    if (this.disposed || this.rooms.has(room.path)) return;
    const rs: RoomState = { room, clients: new Map(), off: () => {} };
    const onChange = (ch: { added: number[]; updated: number[]; removed: number[] }) => {
      for (const list of [ch.added, ch.updated, ch.removed]) for (const cid of list) this.syncYjs(rs, cid);
    };
    // Only edits made through the service (EditOrigin) are looked at: a peer's keystrokes cost nothing
    // here. A merge from disk counts when icpy knows whose write it was (files.write): that merge
    // lands after the write's reply, so the writer's cursor, shown at the file already, moves to it.
    const onText = (ev: Y.YTextEvent, tr: Y.Transaction) => {
      if (!(tr.origin instanceof EditOrigin)) return;
      const by = tr.origin.source;
      if (tr.origin.fromDisk && (by.kind === 'system' || by.connectionId === '')) return;
      let at = 0;
      let end = 0;
      for (const op of ev.delta) {
        if (op.retain !== undefined) at += op.retain;
        else if (typeof op.insert === 'string') end = at += op.insert.length;
        else if (op.delete !== undefined) end = at;
      }
      rs.lastEdit = { connectionId: by.connectionId, offset: end };
      if (tr.origin.fromDisk) this.followWrite(rs, by.connectionId, end);
    };
    room.awareness.on('change', onChange);
    room.text.observe(onText);
    rs.off = () => {
      room.awareness.off('change', onChange);
      room.text.unobserve(onText);
    };
    this.rooms.set(room.path, rs);
    for (const cid of room.awareness.getStates().keys()) this.syncYjs(rs, cid);
    for (const held of this.entries.values()) if (held.via === 'rpc' && held.activeFile === room.path) this.inject(held, rs);
  }

  /** An RPC client's write was merged into a room it shows at: its cursor goes to the end of it. */
  private followWrite(rs: RoomState, connectionId: string, offset: number): void {
    for (const held of this.entries.values()) {
      if (held.via !== 'rpc' || held.connectionId !== connectionId || held.activeFile !== rs.room.path) continue;
      held.rel = undefined;
      held.abs = undefined;
      this.inject(held, rs, offset);
      held.updatedAt = Date.now();
      this.markDirty(held.id);
    }
  }

  private roomClosed(room: PresenceRoom): void {
    const rs = this.rooms.get(room.path);
    if (!rs || rs.room !== room) return;
    rs.off();
    this.rooms.delete(room.path);
    for (const id of rs.clients.values()) {
      this.entries.delete(id);
      this.markDirty(id);
    }
    const cache = new Map<string, LineIndex>();
    for (const held of this.entries.values()) {
      if (held.via === 'rpc' && held.activeFile === room.path && held.rel) {
        held.abs = this.absOf(held, room, cache);
        held.rel = undefined;
      }
    }
  }

  /** Bring one awareness client's entry in line with its state (added, changed or gone). */
  private syncYjs(rs: RoomState, cid: number): void {
    const { room } = rs;
    if (this.injectedIds.has(cid) || cid === room.doc.clientID) return;
    const state = room.awareness.getStates().get(cid) as Record<string, unknown> | undefined;
    let id = rs.clients.get(cid);
    if (!state) {
      if (id === undefined) return;
      rs.clients.delete(cid);
      this.entries.delete(id);
      this.markDirty(id);
      this.stopSweepIfIdle();
      return;
    }
    const conn = room.connectionOf(cid);
    if (id === undefined) {
      id = conn ? `${conn.id}:${cid}` : `yjs:${cid}`;
      if (this.entries.has(id)) id = `${id}@${room.path}`;
      rs.clients.set(cid, id);
    }
    const user = isRecord(state.user) ? state.user : {};
    const name = typeof user.name === 'string' ? clip(user.name) : '';
    const color = typeof user.color === 'string' && HEX_COLOR.test(user.color) ? user.color : colorFor(conn?.id ?? id);
    const claimed = typeof user.kind === 'string' && (user.kind === 'browser' || user.kind === 'cli' || user.kind === 'agent') ? user.kind : undefined;
    this.entries.set(id, {
      id,
      via: 'yjs',
      connectionId: conn?.id ?? '',
      source: conn ? sourceOfConnection(conn) : SYSTEM_SOURCE,
      kind: conn && conn.kind !== 'system' ? conn.kind : (claimed ?? 'browser'),
      name: name || conn?.name || `user-${cid}`,
      color,
      activeFile: room.path,
      clientId: cid,
      rel: relativeCursor(state.cursor ?? state.selection),
      updatedAt: Date.now(),
    });
    this.markDirty(id);
    this.ensureSweep();
  }

  // ---- entries as clients see them

  private materialize(held: Held, cache: Map<string, LineIndex>): PresenceEntry {
    const entry: PresenceEntry = {
      id: held.id,
      connectionId: held.connectionId,
      name: held.name,
      kind: held.kind,
      color: held.color,
      via: held.via,
      updatedAt: held.updatedAt,
    };
    if (held.activeFile !== undefined) entry.activeFile = held.activeFile;
    const rs = held.activeFile === undefined ? undefined : this.rooms.get(held.activeFile);
    const sel = held.rel && rs ? this.absOf(held, rs.room, cache) : held.abs;
    if (sel) {
      entry.cursor = sel.head;
      if (sel.anchor.line !== sel.head.line || sel.anchor.character !== sel.head.character) entry.selection = sel;
    }
    return entry;
  }

  private absOf(held: Held, room: PresenceRoom, cache: Map<string, LineIndex>): { anchor: Pos; head: Pos } | undefined {
    if (!held.rel) return held.abs;
    try {
      const anchor = offsetOf(held.rel.anchor, room);
      const head = offsetOf(held.rel.head, room);
      if (anchor === undefined || head === undefined) return undefined;
      let index = cache.get(room.path);
      if (!index) cache.set(room.path, (index = new LineIndex(room.text.toString())));
      return { anchor: index.positionAt(anchor), head: index.positionAt(head) };
    } catch {
      return undefined; // a peer's malformed relative position: no cursor
    }
  }

  // ---- coalesced events

  private markDirty(id: string): void {
    if (this.disposed) return;
    this.dirty.add(id);
    this.flushTimer ??= setTimeout(() => this.flush(), this.coalesceMs);
  }

  /** Publish one presence.changed per entry that changed since the last flush. */
  flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const cache = new Map<string, LineIndex>();
    const ids = [...this.dirty];
    this.dirty.clear();
    for (const id of ids) {
      const held = this.entries.get(id);
      const prev = this.published.get(id);
      if (!held) {
        if (!prev) continue;
        this.published.delete(id);
        this.publish({ id, change: 'removed', entry: prev }, prev);
        continue;
      }
      const entry = this.materialize(held, cache);
      if (prev && sameEntry(prev, entry)) continue;
      this.published.set(id, entry);
      this.publish({ id, change: prev ? 'updated' : 'added', entry }, entry, held.source);
    }
  }

  private publish(data: PresenceChangedEvent, entry: PresenceEntry, source?: EventSource): void {
    const from = source ?? (entry.connectionId ? { connectionId: entry.connectionId, kind: entry.kind, name: entry.name } : SYSTEM_SOURCE);
    try {
      this.broker.publish('presence.changed', data, from);
    } catch (err) {
      this.options.logger?.error('presence: event refused', { id: data.id, ...describeError(err) });
    }
  }

  // ---- time-outs

  private ensureSweep(): void {
    if (this.sweepTimer || this.disposed) return;
    this.sweepTimer = setInterval(() => this.sweep(), this.sweepMs);
    this.sweepTimer.unref();
  }

  private stopSweepIfIdle(): void {
    if (this.entries.size === 0 && this.sweepTimer) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = undefined;
    }
  }

  /**
   * Remove what showed no sign of life for `timeoutMs` (checked every `sweepMs`, so never later than
   * `timeoutMs`): RPC clients without a WebSocket, and Yjs clients whose awareness went silent.
   * Renew injected states before peers' awareness (30 s) would drop them.
   */
  sweep(now = Date.now()): void {
    const deadline = now + this.sweepMs;
    for (const held of [...this.entries.values()]) {
      if (held.via === 'rpc') {
        if (held.expiresAt !== undefined && held.expiresAt <= deadline) this.removeRpc(held.id);
        else if (held.activeFile !== undefined && held.injectedAt !== undefined && now - held.injectedAt >= this.timeoutMs / 3) {
          const rs = this.rooms.get(held.activeFile);
          if (rs) this.inject(held, rs);
        }
        continue;
      }
      const rs = held.activeFile === undefined ? undefined : this.rooms.get(held.activeFile);
      const meta = rs?.room.awareness.meta.get(held.clientId);
      if (rs && meta && meta.lastUpdated + this.timeoutMs <= deadline) {
        removeAwarenessStates(rs.room.awareness, [held.clientId], PRESENCE_ORIGIN);
      }
    }
    this.stopSweepIfIdle();
  }

  private normalize(path: string): string {
    return this.options.normalizePath ? this.options.normalizePath(path) : path.replace(/^(?:\.\/)+/, '');
  }
}

/**
 * A WebSocket client's presence lives as long as its socket; an HTTP client has a new connection
 * id per request, so its presence is keyed by its kind and name (X-Icpy-Client-Kind / -Name).
 */
export function rpcIdOf(connection: ConnectionInfo): string {
  return connection.transport === 'ws' ? connection.id : `${connection.transport}:${connection.kind}:${connection.name}`;
}

function offsetOf(rel: Y.RelativePosition, room: PresenceRoom): number | undefined {
  const abs = Y.createAbsolutePositionFromRelativePosition(rel, room.doc);
  return abs && abs.type === room.text ? abs.index : undefined;
}

function relativeCursor(raw: unknown): Held['rel'] {
  if (!isRecord(raw) || !isRecord(raw.anchor) || !isRecord(raw.head)) return undefined;
  try {
    return { anchor: Y.createRelativePositionFromJSON(raw.anchor), head: Y.createRelativePositionFromJSON(raw.head) };
  } catch {
    return undefined;
  }
}

function sameEntry(a: PresenceEntry, b: PresenceEntry): boolean {
  return JSON.stringify({ ...a, updatedAt: 0 }) === JSON.stringify({ ...b, updatedAt: 0 });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** At most MAX_PRESENCE_NAME characters, control characters removed. */
function clip(name: string): string {
  // eslint-disable-next-line no-control-regex
  return name.replace(/[\u0000-\u001f\u007f-\u009f]/g, '').trim().slice(0, MAX_PRESENCE_NAME);
}

function kindOf(kind: ConnectionInfo['kind']): PresenceKind {
  return kind === 'system' ? 'agent' : kind;
}

function sourceOfConnection(c: ConnectionInfo): EventSource {
  return { connectionId: c.id, kind: c.kind, name: c.name };
}

