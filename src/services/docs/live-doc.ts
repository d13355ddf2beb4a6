import * as Y from 'yjs';
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness';
import * as decoding from 'lib0/decoding';
import { SYSTEM_SOURCE, type EventSource } from '../../core/broker/index.js';
import type { DocPeer, DocRoom } from '../../core/docs.js';
import { IcpyError } from '../../core/errors.js';
import type { ConnectionInfo } from '../../core/rpc/index.js';
import { applyToString, invert, plain, type DeltaOp, type RecordedOp } from './delta.js';
import { diffDelta } from './text-diff.js';

/** The origin of a transaction made by the service (an RPC edit, a merge from disk, a restore). */
export class EditOrigin {
  constructor(
    readonly source: EventSource,
    /** True for a merge of the file's text on disk (not an edit by anyone). */
    readonly fromDisk = false,
  ) {}
}

/** Who made a change: the peer's connection, the RPC caller, or the server. */
export function sourceOfOrigin(origin: unknown): EventSource {
  if (origin instanceof EditOrigin) return origin.source;
  const peer = origin as Partial<DocPeer> | null;
  if (peer && typeof peer === 'object' && peer.connection) {
    const c = peer.connection;
    return { connectionId: c.id, kind: c.kind, name: c.name };
  }
  return SYSTEM_SOURCE;
}

export interface LiveDocOptions {
  /** Version of the text as loaded (versions continue from here). */
  startVersion: number;
  /** Largest Yjs update a peer may send (bytes). */
  maxUpdateBytes: number;
  /**
   * Longest text (UTF-16 units) updates from peers may grow the document to (maxDocBytes): an
   * update whose inserted text would pass it is refused before it is applied. Unset = no bound.
   */
  maxTextLength?: number;
  /** After every transaction that changed the text. */
  onChange?: (doc: LiveDoc, origin: unknown) => void;
  /** After a peer left (its awareness states are gone). */
  onLeave?: (doc: LiveDoc, peer: DocPeer) => void;
  /** Screens a peer's awareness update before it is applied (and so relayed); undefined = drop it all (presence). */
  screenAwareness?: (update: Uint8Array, from: DocPeer) => Uint8Array | undefined;
}

/**
 * The whole state of a document of at least this many characters, once encoded for a fresh peer
 * (sync step 2 against an empty state vector), is kept for the next fresh peer until the document
 * changes or FULL_STATE_KEEP_MS pass: a second client opening a large document does not encode it
 * again. Bound: one encoded state (about the text's UTF-8 size) per large open document, for at
 * most that long; small documents keep nothing (their encoding costs little).
 */
const FULL_STATE_MIN_CHARS = 64 * 1024;
const FULL_STATE_KEEP_MS = 10_000;

/** Recent changes kept to rebase edits sent against an older version (docs.applyEdits baseVersion). */
const LOG_MAX_ENTRIES = 512;
const LOG_MAX_CHARS = 4 * 1024 * 1024;

/**
 * One live document: a Y.Doc whose `content` Y.Text is the file's text, the room's awareness
 * (the server's own local state is null: it is no participant), and the Yjs peers joined to it.
 * Every update is relayed to the other peers; every change to the text bumps `version`.
 */
export class LiveDoc implements DocRoom {
  readonly doc = new Y.Doc();
  readonly text: Y.Text = this.doc.getText('content');
  readonly awareness: Awareness;
  private readonly peerClients = new Map<DocPeer, Set<number>>();
  private currentVersion: number;
  private readonly log: { version: number; ops: RecordedOp[]; chars: number }[] = [];
  private logChars = 0;
  private fullState: { update: Uint8Array; timer: NodeJS.Timeout } | undefined;
  private readonly firstChangeWaiters: ((textBefore: string) => void)[] = [];
  private destroyed = false;

  constructor(
    readonly path: string,
    initialText: string,
    private readonly options: LiveDocOptions,
  ) {
    this.currentVersion = options.startVersion;
    if (initialText) this.doc.transact(() => this.text.insert(0, initialText), new EditOrigin(SYSTEM_SOURCE, true));
    this.awareness = new Awareness(this.doc);
    this.awareness.setLocalState(null);
    this.text.observe((event) => {
      this.currentVersion++;
      const ops = recordDelta(event);
      this.record(ops);
      if (this.firstChangeWaiters.length) {
        // The text as it was just before this change: the change undone on the text after it.
        const before = applyToString(this.text.toString(), invert(ops));
        for (const cb of this.firstChangeWaiters.splice(0)) cb(before);
      }
      this.options.onChange?.(this, event.transaction.origin);
    });
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      this.dropFullState();
      for (const peer of this.peerClients.keys()) if (peer !== origin) peer.sendUpdate(update);
    });
    this.awareness.on('update', ({ added, updated, removed }: { added: number[]; updated: number[]; removed: number[] }, origin: unknown) => {
      const mine = this.peerClients.get(origin as DocPeer);
      if (mine) {
        for (const id of added) mine.add(id);
        for (const id of updated) mine.add(id);
        for (const id of removed) mine.delete(id);
      }
      const changed = [...added, ...updated, ...removed];
      if (!changed.length || !this.peerClients.size) return;
      const msg = encodeAwarenessUpdate(this.awareness, changed);
      for (const peer of this.peerClients.keys()) if (peer !== origin) peer.sendAwareness(msg);
    });
  }

  /**
   * Calls `cb` once, at the next change to the text (whatever its origin), with the text as it was
   * just before it — so the text a document was opened with can be kept (history) only when it is
   * about to be lost, not for every file that is merely looked at.
   */
  onNextChange(cb: (textBefore: string) => void): void {
    this.firstChangeWaiters.push(cb);
  }

  /** +1 on every change to the text, whatever its origin. */
  get version(): number {
    return this.currentVersion;
  }

  /** The Yjs peers in the room now. */
  get peers(): DocPeer[] {
    return [...this.peerClients.keys()];
  }

  /** The awareness client id → the connection of the peer that sent it. */
  connectionOf(clientId: number): ConnectionInfo | undefined {
    for (const [peer, ids] of this.peerClients) if (ids.has(clientId)) return peer.connection;
    return undefined;
  }

  /** Called by the service when a peer joins (DocRooms.join). */
  addPeer(peer: DocPeer): void {
    if (!this.peerClients.has(peer)) this.peerClients.set(peer, new Set());
  }

  hasPeer(peer: DocPeer): boolean {
    return this.peerClients.has(peer);
  }

  /** True when a peer of this connection is in the room. */
  hasConnection(connectionId: string): boolean {
    for (const peer of this.peerClients.keys()) if (peer.connection.id === connectionId) return true;
    return false;
  }

  encodeStateVector(): Uint8Array {
    return Y.encodeStateVector(this.doc);
  }

  encodeStateAsUpdate(stateVector?: Uint8Array): Uint8Array {
    // A fresh peer (an empty document: its state vector is the single byte 0) is sent everything.
    const fresh = !stateVector || (stateVector.length === 1 && stateVector[0] === 0);
    if (fresh && this.fullState) return this.fullState.update;
    let update: Uint8Array;
    try {
      update = Y.encodeStateAsUpdate(this.doc, stateVector);
    } catch (err) {
      throw new IcpyError('INVALID_PARAMS', 'Malformed state vector', { field: 'stateVector' }, { cause: err });
    }
    if (fresh && !this.destroyed && this.text.length >= FULL_STATE_MIN_CHARS) {
      const timer = setTimeout(() => this.dropFullState(), FULL_STATE_KEEP_MS);
      timer.unref();
      this.fullState = { update, timer };
    }
    return update;
  }

  private dropFullState(): void {
    if (!this.fullState) return;
    clearTimeout(this.fullState.timer);
    this.fullState = undefined;
  }

  applyUpdate(update: Uint8Array, from: DocPeer): void {
    if (this.destroyed) throw new IcpyError('DOC_GONE', `'${this.path}' is no longer open`, { path: this.path });
    if (update.length > this.options.maxUpdateBytes) {
      throw new IcpyError('LIMIT_EXCEEDED', `A Yjs update of ${update.length} bytes exceeds ${this.options.maxUpdateBytes} bytes (2 × maxDocBytes)`, {
        limit: 'maxDocBytes',
        max: this.options.maxUpdateBytes,
      });
    }
    // Yjs can throw halfway through, or silently corrupt the document, on garbage: decode the
    // whole update first, and apply only what decodes.
    let decoded: ReturnType<typeof Y.decodeUpdate>;
    try {
      decoded = Y.decodeUpdate(update);
    } catch (err) {
      throw new IcpyError('INVALID_PARAMS', 'Malformed Yjs update', { field: 'update' }, { cause: err });
    }
    const max = this.options.maxTextLength;
    if (max !== undefined) {
      // Counted before deletions, so a large replace near the bound is refused too (conservative).
      let inserted = 0;
      for (const s of decoded.structs) if (s instanceof Y.Item && s.content instanceof Y.ContentString) inserted += s.length;
      if (inserted && this.text.length + inserted > max) {
        throw new IcpyError('FILE_TOO_LARGE', `This edit would make '${this.path}' longer than a live document may be (maxDocBytes = ${max})`, {
          path: this.path,
          limit: 'maxDocBytes',
          max,
        });
      }
    }
    try {
      Y.applyUpdate(this.doc, update, from);
    } catch (err) {
      throw new IcpyError('INVALID_PARAMS', 'Yjs update could not be applied', { field: 'update' }, { cause: err });
    }
  }

  applyAwareness(update: Uint8Array, from: DocPeer): void {
    if (this.destroyed) return;
    if (!isAwarenessUpdate(update)) throw new IcpyError('INVALID_PARAMS', 'Malformed awareness update', { field: 'awareness' });
    const kept = this.options.screenAwareness ? this.options.screenAwareness(update, from) : update;
    if (kept) applyAwarenessUpdate(this.awareness, kept, from);
  }

  encodeAwareness(): Uint8Array | undefined {
    const ids = [...this.awareness.getStates().keys()];
    return ids.length ? encodeAwarenessUpdate(this.awareness, ids) : undefined;
  }

  leave(peer: DocPeer): void {
    const ids = this.peerClients.get(peer);
    if (!ids) return;
    this.peerClients.delete(peer);
    if (ids.size) removeAwarenessStates(this.awareness, [...ids], 'left');
    this.options.onLeave?.(this, peer);
  }

  /** Apply a delta over the current text as one transaction. */
  applyDelta(ops: readonly DeltaOp[], origin: unknown): void {
    if (!ops.length) return;
    this.doc.transact(() => this.text.applyDelta(ops as DeltaOp[]), origin);
  }

  /** Make the text equal `to` by a minimal diff (unchanged characters, and cursors on them, stay). */
  replaceText(to: string, origin: unknown): void {
    this.applyDelta(diffDelta(this.text.toString(), to), origin);
  }

  /**
   * The text as it was at `version`, and the deltas made since (oldest first), from the bounded
   * log of recent changes; undefined when that version is older than the log (or not yet made).
   */
  since(version: number): { text: string; deltas: DeltaOp[][] } | undefined {
    if (version > this.currentVersion) return undefined;
    const oldest = this.log.length ? this.log[0]!.version - 1 : this.currentVersion;
    if (version < oldest) return undefined;
    const entries = this.log.filter((e) => e.version > version);
    let text = this.text.toString();
    for (let i = entries.length - 1; i >= 0; i--) text = applyToString(text, invert(entries[i]!.ops));
    return { text, deltas: entries.map((e) => plain(e.ops)) };
  }

  /** Disconnect everything (the service closed the peers first). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.peerClients.clear();
    this.log.length = 0;
    this.dropFullState();
    this.awareness.destroy();
    this.doc.destroy();
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  private record(ops: RecordedOp[]): void {
    let chars = 0;
    for (const op of ops) chars += 'insert' in op ? op.insert.length : 'text' in op ? op.text.length : 0;
    this.log.push({ version: this.currentVersion, ops, chars });
    this.logChars += chars;
    while (this.log.length > LOG_MAX_ENTRIES || (this.logChars > LOG_MAX_CHARS && this.log.length > 1)) this.logChars -= this.log.shift()!.chars;
  }
}

/** Items a change may touch before recordDelta walks the whole text instead of each item's left side. */
const FEW_ITEMS = 8;

/** The change an event made, with the text of each deletion (read before Yjs collects it). */
export function recordDelta(event: Y.YTextEvent): RecordedOp[] {
  let few: RecordedOp[] | undefined;
  try {
    few = fewItemsDelta(event);
  } catch {
    // Yjs internals it reads (the struct store) not as expected: the walk needs none of them.
  }
  return few ?? walkDelta(event);
}

const itemText = (item: Y.Item): string => (item.content instanceof Y.ContentString ? item.content.str : '\ufffc'.repeat(item.length));

/**
 * The delta of a change that inserted or deleted a few items (a keystroke, a paste, a cut), from
 * those items alone: the transaction's new clocks and delete set name them, and each one's place
 * is counted along its left side with no per-item lookups — no walk of the whole text and no
 * allocation for unchanged items. Undefined (walk instead) when more items changed, or when the
 * delete set does not fall on item boundaries.
 */
export function fewItemsDelta(event: Y.YTextEvent): RecordedOp[] | undefined {
  const text = event.target;
  const tr = event.transaction;
  const store = tr.doc.store.clients;
  const ours = (s: unknown): s is Y.Item => s instanceof Y.Item && s.parent === text && s.parentSub === null && s.countable;
  const changed: { item: Y.Item; added: boolean; order: number; visibleLeft: number }[] = [];
  for (const [client, after] of tr.afterState) {
    const before = tr.beforeState.get(client) ?? 0;
    if (after <= before) continue;
    const structs = store.get(client);
    if (!structs) return undefined;
    for (let i = Y.findIndexSS(structs, before); i < structs.length; i++) {
      const s = structs[i]!;
      if (!ours(s) || s.deleted) continue; // inserted and deleted in one change: no change
      if (changed.length >= FEW_ITEMS) return undefined;
      changed.push({ item: s, added: true, order: 0, visibleLeft: 0 });
    }
  }
  for (const [client, ranges] of tr.deleteSet.clients) {
    const structs = store.get(client);
    if (!structs) return undefined;
    const before = tr.beforeState.get(client) ?? 0;
    for (const { clock, len } of ranges) {
      let i = Y.findIndexSS(structs, clock);
      if (structs[i]!.id.clock !== clock) return undefined;
      for (; i < structs.length && structs[i]!.id.clock < clock + len; i++) {
        const s = structs[i]!;
        if (s.id.clock + s.length > clock + len) return undefined;
        if (!ours(s) || s.id.clock >= before) continue;
        if (changed.length >= FEW_ITEMS) return undefined;
        changed.push({ item: s, added: false, order: 0, visibleLeft: 0 });
      }
    }
  }
  for (const c of changed) {
    let order = 0;
    let visible = 0;
    for (let i = c.item.left; i; i = i.left) {
      order++;
      if (i.countable && !i.deleted) visible += i.length;
    }
    c.order = order;
    c.visibleLeft = visible;
  }
  changed.sort((a, b) => a.order - b.order);
  // Unchanged characters left of a change = visible characters left of it − inserted ones there.
  const ops: RecordedOp[] = [];
  let insertedLeft = 0;
  let at = 0;
  for (const c of changed) {
    const unchangedLeft = c.visibleLeft - insertedLeft;
    if (unchangedLeft > at) {
      ops.push({ retain: unchangedLeft - at });
      at = unchangedLeft;
    }
    const last = ops[ops.length - 1];
    const str = itemText(c.item);
    if (c.added) {
      insertedLeft += c.item.length;
      if (last && 'insert' in last) last.insert += str;
      else ops.push({ insert: str });
    } else if (last && 'delete' in last) {
      last.delete += c.item.length;
      last.text += str;
    } else ops.push({ delete: c.item.length, text: str });
  }
  return ops;
}

/** The delta of any change: one walk of the whole item list (Yjs has no index of items by position). */
function walkDelta(event: Y.YTextEvent): RecordedOp[] {
  // Unchanged items are only counted, so this allocates for what changed, not for the document.
  const ops: RecordedOp[] = [];
  let retain = 0;
  for (let item = event.target._start; item; item = item.right) {
    if (!item.countable) continue;
    const added = event.adds(item);
    const deleted = event.deletes(item);
    if (!added && !deleted) {
      if (!item.deleted) retain += item.length;
      continue;
    }
    if (added && deleted) continue;
    if (retain) {
      ops.push({ retain });
      retain = 0;
    }
    const last = ops[ops.length - 1];
    if (added) {
      if (last && 'insert' in last) last.insert += itemText(item);
      else ops.push({ insert: itemText(item) });
    } else if (last && 'delete' in last) {
      last.delete += item.length;
      last.text += itemText(item);
    } else ops.push({ delete: item.length, text: itemText(item) });
  }
  return ops;
}

/** For tests: the whole-text walk, to compare fewItemsDelta with. */
export const walkDeltaForTest = walkDelta;

/** True when `update` decodes as a y-protocols awareness update (so applying it cannot stop halfway). */
function isAwarenessUpdate(update: Uint8Array): boolean {
  try {
    const d = decoding.createDecoder(update);
    const n = decoding.readVarUint(d);
    for (let i = 0; i < n; i++) {
      decoding.readVarUint(d);
      decoding.readVarUint(d);
      JSON.parse(decoding.readVarString(d));
    }
    return true;
  } catch {
    return false;
  }
}
