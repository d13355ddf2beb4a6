import { SYSTEM_SOURCE, type EventSource } from '../../core/broker/index.js';
import type { DocPeer, DocRoom, DocRooms } from '../../core/docs.js';
import { IcpyError } from '../../core/errors.js';
import { toDisposable, type Disposable } from '../../core/lifecycle.js';
import type { Logger } from '../../core/logger.js';
import type { ConnectionInfo } from '../../core/rpc/index.js';
import { transform } from './delta.js';
import type { DocFiles } from './doc-files.js';
import { editsToDelta, lengthChange, type TextEdit } from './edits.js';
import { EditOrigin, LiveDoc, sourceOfOrigin } from './live-doc.js';
import { diffDelta, diskMergeDelta, likeliestBase } from './text-diff.js';

export interface DocLimits {
  maxOpenDocs: number;
  maxDocBytes: number;
  maxDocsPerConnection: number;
  maxEditsPerCall: number;
}

export interface DocServiceOptions {
  files: DocFiles;
  limits: DocLimits;
  /** A document is saved this long after its last edit… */
  saveDebounceMs: number;
  /** …and at the latest this long after its first unsaved edit. */
  saveMaxDelayMs: number;
  /** Publishes docs.* events (the broker's publish). */
  publish?: (topic: string, data: unknown, source: EventSource) => void;
  logger?: Logger;
  /** Screens each peer's awareness update before it is applied and relayed (presence's size/impersonation bounds). */
  screenAwareness?: (update: Uint8Array, from: DocPeer) => Uint8Array | undefined;
}

export interface SavedEvent {
  path: string;
  text: string;
  fileVersion: string;
  author: EventSource;
  time: number;
  label?: string;
}

export interface DocSummary {
  path: string;
  version: number;
  fileVersion: string;
  dirty: boolean;
  peers: number;
  holders: number;
}

/** Coalescing window of docs.changed (at most one event per document per window). */
export const CHANGED_EVENT_MS = 50;
/** Unloaded documents whose version is remembered (so a baseVersion stays valid across an unload). */
const REMEMBERED_MAX = 4096;
/** Close code sent to Yjs peers of a document whose file was deleted or moved away. */
export const CLOSE_DELETED = 4410;

const DISK = new EditOrigin({ connectionId: 'disk', kind: 'system', name: 'disk' }, true);

/** One loaded document and its bookkeeping. */
class Entry {
  /** Connection id → holds (docs.open) of that connection. */
  readonly holders = new Map<string, number>();
  /** `live.version` at which the text equalled `baseText` (the file on disk); dirty when it differs. */
  syncedVersion: number;
  /** Source of the last edit that was not a merge from disk: the author of the next save. */
  author: EventSource = SYSTEM_SOURCE;
  saveTimer: NodeJS.Timeout | undefined;
  /** When the armed saveTimer fires, and when the save is due (later when typed into since: it re-arms). */
  saveTimerAt = 0;
  saveDue = 0;
  firstDirtyAt: number | undefined;
  changedTimer: NodeJS.Timeout | undefined;
  /** Saves and merges from disk run one at a time, in order. */
  queue: Promise<void> = Promise.resolve();
  /** Calls in flight that hold the entry loaded. */
  busy = 0;
  gone = false;

  constructor(
    readonly live: LiveDoc,
    /** The text as last synced with disk (the common base of a three-way merge). */
    public baseText: string,
    public fileVersion: string,
  ) {
    this.syncedVersion = live.version;
  }

  get path(): string {
    return this.live.path;
  }
  get dirty(): boolean {
    return this.live.version !== this.syncedVersion;
  }
}

/**
 * The live documents: one LiveDoc per open file, loaded on the first join (Yjs) or open (RPC),
 * saved to disk debounced through the DocFiles port, merged three-way with changes made on disk,
 * and unloaded once nobody has it open and everything is saved.
 */
export class DocService implements DocRooms, Disposable {
  private readonly docs = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<Entry>>();
  /** Connection id → paths it has open (as a Yjs peer or a holder). */
  private readonly docsOf = new Map<string, Set<string>>();
  private readonly remembered = new Map<string, { fileVersion: string; version: number }>();
  /** Every version ever given out is below this (versions never repeat across loads). */
  private nextStart = 1;
  private readonly openedListeners = new Set<(d: LiveDoc) => void>();
  private readonly closedListeners = new Set<(d: LiveDoc) => void>();
  private readonly savedListeners = new Set<(e: SavedEvent) => void>();
  private disposed = false;

  constructor(private readonly options: DocServiceOptions) {}

  onOpened(cb: (d: LiveDoc) => void): Disposable {
    this.openedListeners.add(cb);
    return toDisposable(() => void this.openedListeners.delete(cb));
  }
  onClosed(cb: (d: LiveDoc) => void): Disposable {
    this.closedListeners.add(cb);
    return toDisposable(() => void this.closedListeners.delete(cb));
  }
  onSaved(cb: (e: SavedEvent) => void): Disposable {
    this.savedListeners.add(cb);
    return toDisposable(() => void this.savedListeners.delete(cb));
  }

  loaded(path: string): LiveDoc | undefined {
    return this.docs.get(path)?.live;
  }

  list(): DocSummary[] {
    return [...this.docs.values()].map((e) => ({
      path: e.path,
      version: e.live.version,
      fileVersion: e.fileVersion,
      dirty: e.dirty,
      peers: e.live.peers.length,
      holders: [...e.holders.values()].reduce((a, b) => a + b, 0),
    }));
  }

  async join(path: string, peer: DocPeer): Promise<DocRoom> {
    const entry = await this.acquire(path);
    try {
      if (!entry.live.hasPeer(peer)) {
        this.track(peer.connection.id, entry.path);
        entry.live.addPeer(peer);
      }
      return entry.live;
    } finally {
      this.done(entry);
    }
  }

  async open(path: string, holder: ConnectionInfo): Promise<LiveDoc> {
    const entry = await this.acquire(path);
    try {
      if (!entry.holders.has(holder.id)) this.track(holder.id, entry.path);
      entry.holders.set(holder.id, (entry.holders.get(holder.id) ?? 0) + 1);
      return entry.live;
    } finally {
      this.done(entry);
    }
  }

  /** End one hold of `holderId` on the document (no-op when it holds none). */
  release(path: string, holderId: string): void {
    const entry = this.docs.get(path);
    const n = entry?.holders.get(holderId);
    if (!entry || !n) return;
    if (n > 1) return void entry.holders.set(holderId, n - 1);
    this.releaseAll(path, holderId);
  }

  /** End every hold of `holderId` on the document (its connection closed). */
  releaseAll(path: string, holderId: string): void {
    const entry = this.docs.get(path);
    if (!entry || !entry.holders.delete(holderId)) return;
    if (!entry.live.hasConnection(holderId)) this.untrack(holderId, entry.path);
    this.maybeUnload(entry);
  }

  async get(path: string): Promise<{ path: string; text: string; version: number; fileVersion: string; dirty: boolean }> {
    const entry = this.docs.get(path);
    if (entry) return { path: entry.path, text: entry.live.text.toString(), version: entry.live.version, fileVersion: entry.fileVersion, dirty: entry.dirty };
    // Not open: read the disk, without building a Y.Doc. The version given is the one a load of
    // this file version will start at, so a later applyEdits with this baseVersion fits.
    const disk = await this.options.files.readText(path);
    const loadedMeanwhile = this.docs.get(disk.path);
    if (loadedMeanwhile) return this.get(disk.path);
    return { path: disk.path, text: disk.text, version: this.startVersionFor(disk.path, disk.version), fileVersion: disk.version, dirty: false };
  }

  async applyEdits(path: string, edits: readonly TextEdit[], opts: { baseVersion?: number; source: EventSource }): Promise<{ path: string; version: number }> {
    const max = this.options.limits.maxEditsPerCall;
    if (edits.length > max) throw new IcpyError('LIMIT_EXCEEDED', `${edits.length} edits in one call exceed maxEditsPerCall (${max})`, { limit: 'maxEditsPerCall', max });
    const entry = await this.acquire(path);
    try {
      const live = entry.live;
      let base: string;
      let since: ReturnType<LiveDoc['since']>;
      if (opts.baseVersion === undefined || opts.baseVersion === live.version) base = live.text.toString();
      else {
        since = live.since(opts.baseVersion);
        if (!since) {
          throw new IcpyError('VERSION_CONFLICT', `'${entry.path}' is at version ${live.version}; baseVersion ${opts.baseVersion} is unknown or too old to rebase onto — get the text again`, {
            path: entry.path,
            baseVersion: opts.baseVersion,
            currentVersion: live.version,
          });
        }
        base = since.text;
      }
      let ops = editsToDelta(base, edits);
      for (const d of since?.deltas ?? []) ops = transform(ops, d);
      this.checkSize(live.text.length + lengthChange(ops));
      live.applyDelta(ops, new EditOrigin(opts.source));
      return { path: entry.path, version: live.version };
    } finally {
      this.done(entry);
    }
  }

  async replaceText(path: string, text: string, source: EventSource): Promise<{ version: number }> {
    this.checkSize(text.length);
    const entry = await this.acquire(path);
    try {
      entry.live.replaceText(text, new EditOrigin(source));
      return { version: entry.live.version };
    } finally {
      this.done(entry);
    }
  }

  /**
   * Write the document now (when it has unsaved changes). A labelled save of a clean document
   * still reports a save (onSaved, with the current text) so a checkpoint can name it.
   */
  async save(path: string, opts: { source?: EventSource; label?: string } = {}): Promise<{ path: string; fileVersion: string; saved: boolean }> {
    const entry = this.docs.get(path);
    if (!entry) {
      const disk = await this.options.files.readText(path);
      const now = this.docs.get(disk.path);
      if (now) return this.save(disk.path, opts);
      if (opts.label !== undefined) this.emitSaved({ path: disk.path, text: disk.text, fileVersion: disk.version, author: opts.source ?? SYSTEM_SOURCE, time: Date.now(), label: opts.label });
      return { path: disk.path, fileVersion: disk.version, saved: false };
    }
    entry.busy++;
    try {
      return await this.turn(entry, () => this.write(entry, opts));
    } finally {
      this.done(entry);
    }
  }

  /**
   * Files changed on disk (fs.file.changed / created / deleted, by anyone, icpy included): each
   * open one is checked and merged (or dropped when gone), in turn with its saves. `source`: who
   * changed them when icpy knows (a files.write): the merge is marked as theirs (still `fromDisk`),
   * so presence can put their cursor at the end of their change.
   */
  diskChanged(paths: readonly string[], opts: { folders?: boolean; source?: EventSource } = {}): void {
    const origin = opts.source && opts.source.kind !== 'system' ? new EditOrigin(opts.source, true) : DISK;
    const open = opts.folders ? [...this.docs.keys()].filter((d) => paths.some((f) => f === '' || d.startsWith(f + '/'))) : paths;
    for (const p of open) {
      const entry = this.docs.get(p);
      if (!entry || entry.gone) continue;
      entry.busy++;
      this.turn(entry, () => this.mergeFromDisk(entry, origin))
        .catch((err) => this.options.logger?.warn('docs: merge from disk failed', { path: p, error: String(err) }))
        .finally(() => this.done(entry));
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.allSettled([...this.loading.values()]);
    for (const entry of [...this.docs.values()]) {
      clearTimeout(entry.saveTimer);
      clearTimeout(entry.changedTimer);
      try {
        await this.turn(entry, () => (entry.dirty ? this.write(entry, {}).then(() => undefined) : Promise.resolve()));
      } catch (err) {
        this.options.logger?.warn('docs: save on shutdown failed', { path: entry.path, error: String(err) });
      }
      this.unload(entry, 'unloaded');
    }
  }

  // ---- loading and unloading ----

  /** The loaded entry for `path` (loading it once for concurrent callers), held until `done`. */
  private async acquire(path: string): Promise<Entry> {
    for (let attempt = 0; ; attempt++) {
      if (this.disposed) throw new IcpyError('UNAVAILABLE', 'The server is shutting down');
      let entry = this.docs.get(path);
      if (!entry) {
        let load = this.loading.get(path);
        if (!load) {
          const max = this.options.limits.maxOpenDocs;
          if (this.docs.size + this.loading.size >= max) {
            throw new IcpyError('LIMIT_EXCEEDED', `${max} documents are open, the maximum (maxOpenDocs); close some first`, { limit: 'maxOpenDocs', max });
          }
          load = this.load(path);
          this.loading.set(path, load);
          void load.catch(() => undefined).finally(() => this.loading.delete(path));
        }
        entry = await load;
      }
      // A load resolves in a later microtask: the entry may have been unloaded or dropped since.
      if (!entry.gone && this.docs.get(entry.path) === entry) {
        entry.busy++;
        return entry;
      }
      if (attempt >= 3) throw new IcpyError('DOC_GONE', `'${path}' was closed while opening`, { path });
    }
  }

  private done(entry: Entry): void {
    entry.busy--;
    this.maybeUnload(entry);
  }

  private async load(path: string): Promise<Entry> {
    const disk = await this.options.files.readText(path);
    const existing = this.docs.get(disk.path);
    if (existing) return existing; // another spelling of the same path
    if (this.disposed) throw new IcpyError('UNAVAILABLE', 'The server is shutting down');
    this.checkSize(disk.text.length);
    const live = new LiveDoc(disk.path, disk.text, {
      startVersion: this.startVersionFor(disk.path, disk.version),
      // an update carrying a whole document: its text plus Yjs ids (the gateway's frame bound)
      maxUpdateBytes: 2 * this.options.limits.maxDocBytes,
      maxTextLength: this.options.limits.maxDocBytes,
      ...(this.options.screenAwareness ? { screenAwareness: this.options.screenAwareness } : {}),
      onChange: (doc, origin) => this.changed(doc, origin),
      onLeave: (doc, peer) => this.left(doc, peer),
    });
    this.remembered.delete(disk.path);
    const entry = new Entry(live, disk.text, disk.version);
    this.docs.set(disk.path, entry);
    this.options.publish?.('docs.opened', { path: disk.path, version: live.version, fileVersion: disk.version }, SYSTEM_SOURCE);
    for (const cb of this.openedListeners) this.safely(() => cb(live));
    return entry;
  }

  private startVersionFor(path: string, fileVersion: string): number {
    const r = this.remembered.get(path);
    if (r && r.fileVersion === fileVersion) return r.version;
    const version = this.nextStart++;
    this.remember(path, fileVersion, version);
    return version;
  }

  private remember(path: string, fileVersion: string, version: number): void {
    this.remembered.delete(path);
    this.remembered.set(path, { fileVersion, version });
    if (this.remembered.size > REMEMBERED_MAX) this.remembered.delete(this.remembered.keys().next().value!);
    this.nextStart = Math.max(this.nextStart, version + 1);
  }

  /** Unload when nobody has it open and nothing is unsaved (saving first when needed). */
  private maybeUnload(entry: Entry): void {
    if (entry.gone || entry.busy > 0 || entry.holders.size || entry.live.peers.length) return;
    if (entry.dirty) {
      // Nobody is typing any more: save now rather than after the debounce, then unload.
      clearTimeout(entry.saveTimer);
      entry.saveTimer = undefined;
      entry.busy++;
      this.turn(entry, () => this.write(entry, {}))
        .catch((err) => {
          this.options.logger?.warn('docs: save failed; will retry', { path: entry.path, error: String(err) });
          this.scheduleSave(entry, this.options.saveMaxDelayMs);
        })
        .finally(() => this.done(entry));
      return;
    }
    this.unload(entry, 'unloaded');
  }

  private unload(entry: Entry, reason: 'unloaded' | 'deleted'): void {
    if (entry.gone) return;
    entry.gone = true;
    clearTimeout(entry.saveTimer);
    clearTimeout(entry.changedTimer);
    if (this.docs.get(entry.path) === entry) this.docs.delete(entry.path);
    const live = entry.live;
    for (const id of entry.holders.keys()) this.untrack(id, entry.path);
    for (const peer of live.peers) this.untrack(peer.connection.id, entry.path);
    if (reason === 'deleted') for (const peer of live.peers) this.safely(() => peer.close(CLOSE_DELETED, 'file was deleted'));
    else if (!entry.dirty) this.remember(entry.path, entry.fileVersion, live.version);
    this.nextStart = Math.max(this.nextStart, live.version + 1);
    entry.holders.clear();
    this.options.publish?.('docs.closed', { path: entry.path, reason }, SYSTEM_SOURCE);
    for (const cb of this.closedListeners) this.safely(() => cb(live));
    live.destroy();
  }

  private left(doc: LiveDoc, peer: DocPeer): void {
    const entry = this.docs.get(doc.path);
    if (!entry || entry.live !== doc) return;
    if (!entry.holders.has(peer.connection.id) && !doc.hasConnection(peer.connection.id)) this.untrack(peer.connection.id, doc.path);
    this.maybeUnload(entry);
  }

  // ---- per-connection limit ----

  private track(connectionId: string, path: string): void {
    let set = this.docsOf.get(connectionId);
    if (set?.has(path)) return;
    const max = this.options.limits.maxDocsPerConnection;
    if ((set?.size ?? 0) >= max) {
      throw new IcpyError('LIMIT_EXCEEDED', `This connection has ${max} documents open, the maximum (maxDocsPerConnection)`, { limit: 'maxDocsPerConnection', max });
    }
    if (!set) this.docsOf.set(connectionId, (set = new Set()));
    set.add(path);
  }

  private untrack(connectionId: string, path: string): void {
    const set = this.docsOf.get(connectionId);
    if (!set) return;
    set.delete(path);
    if (!set.size) this.docsOf.delete(connectionId);
  }

  private checkSize(chars: number): void {
    // UTF-16 units: a lower bound on UTF-8 bytes, exact for ASCII.
    const max = this.options.limits.maxDocBytes;
    if (chars > max) throw new IcpyError('LIMIT_EXCEEDED', `The document would exceed maxDocBytes (${max})`, { limit: 'maxDocBytes', max });
  }

  // ---- changes, saving and merging ----

  private changed(doc: LiveDoc, origin: unknown): void {
    const entry = this.docs.get(doc.path);
    if (!entry || entry.live !== doc) return;
    if (!(origin instanceof EditOrigin && origin.fromDisk)) entry.author = sourceOfOrigin(origin);
    if (entry.dirty) this.scheduleSave(entry);
    if (!entry.changedTimer) {
      entry.changedTimer = setTimeout(() => {
        entry.changedTimer = undefined;
        if (!entry.gone) this.options.publish?.('docs.changed', { path: entry.path, version: entry.live.version }, entry.author);
      }, CHANGED_EVENT_MS);
    }
  }

  /**
   * Save `delay` ms from now, or debounced: `saveDebounceMs` after the last edit, at the latest
   * `saveMaxDelayMs` after the first unsaved one. One timer per document: an edit only moves the
   * due time, and the timer re-arms itself when it fires before it (a new timer per keystroke cost
   * more than the keystroke's own work).
   */
  private scheduleSave(entry: Entry, delay?: number): void {
    if (entry.gone || this.disposed) return;
    const now = Date.now();
    entry.firstDirtyAt ??= now;
    const wait = delay ?? Math.max(0, Math.min(this.options.saveDebounceMs, entry.firstDirtyAt + this.options.saveMaxDelayMs - now));
    entry.saveDue = now + wait;
    if (entry.saveTimer && entry.saveTimerAt <= entry.saveDue) return;
    clearTimeout(entry.saveTimer);
    this.armSave(entry, wait);
  }

  private armSave(entry: Entry, wait: number): void {
    entry.saveTimerAt = Date.now() + wait;
    entry.saveTimer = setTimeout(() => {
      entry.saveTimer = undefined;
      if (entry.gone || this.disposed) return;
      const left = entry.saveDue - Date.now();
      if (left > 0) return this.armSave(entry, left);
      entry.busy++;
      this.turn(entry, () => this.write(entry, {}))
        .catch((err) => {
          if (entry.gone) return;
          this.options.logger?.warn('docs: save failed; will retry', { path: entry.path, error: String(err) });
          this.scheduleSave(entry, this.options.saveMaxDelayMs);
        })
        .finally(() => this.done(entry));
    }, wait);
  }

  /** Run `fn` after the entry's earlier saves and merges. */
  private turn<T>(entry: Entry, fn: () => Promise<T>): Promise<T> {
    const run = entry.queue.then(fn);
    entry.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Save (within the entry's turn). A VERSION_CONFLICT means the disk changed: merge, then save again. */
  private async write(entry: Entry, opts: { source?: EventSource; label?: string }): Promise<{ path: string; fileVersion: string; saved: boolean }> {
    for (let attempt = 0; ; attempt++) {
      if (entry.gone) throw new IcpyError('DOC_GONE', `'${entry.path}' was deleted or moved on disk`, { path: entry.path });
      clearTimeout(entry.saveTimer);
      entry.saveTimer = undefined;
      const version = entry.live.version;
      if (version === entry.syncedVersion) {
        entry.firstDirtyAt = undefined;
        if (opts.label !== undefined) this.emitSaved({ path: entry.path, text: entry.baseText, fileVersion: entry.fileVersion, author: opts.source ?? entry.author, time: Date.now(), label: opts.label });
        return { path: entry.path, fileVersion: entry.fileVersion, saved: false };
      }
      const text = entry.live.text.toString();
      const author = opts.source ?? entry.author;
      try {
        const { version: fileVersion, replaced, overwritten } = await this.options.files.writeText(entry.path, text, { expectedVersion: entry.fileVersion, source: author });
        const before = entry.baseText;
        entry.fileVersion = fileVersion;
        // The text on disk at fileVersion: ours, unless another program wrote our new file in place.
        entry.baseText = overwritten ?? text;
        entry.syncedVersion = version;
        entry.firstDirtyAt = undefined;
        if (!entry.gone && (replaced !== undefined || overwritten !== undefined)) {
          // Other programs wrote the file while we saved it: merge what they wrote, relative to
          // the text each started from, so it is saved with the next write. The one replaced by
          // our rename started from the text before this save; the one that wrote our new file
          // read one of the texts the file held meanwhile — before, theirs (replaced), or ours —
          // and the one that explains their text with the fewest changes is taken (traced: taking
          // `before` when they had read ours merged our save's text twice).
          if (replaced !== undefined && replaced !== before) this.mergeText(entry, before, replaced);
          if (overwritten !== undefined) this.mergeText(entry, likeliestBase([before, ...(replaced !== undefined ? [replaced] : []), text], overwritten), overwritten);
          this.markSynced(entry);
        }
        this.emitSaved({ path: entry.path, text, fileVersion, author, time: Date.now(), ...(opts.label !== undefined ? { label: opts.label } : {}) });
        this.options.publish?.('docs.saved', { path: entry.path, fileVersion, version }, author);
        if (entry.dirty) this.scheduleSave(entry); // typed while the write was in flight
        return { path: entry.path, fileVersion, saved: true };
      } catch (err) {
        if (!(err instanceof IcpyError) || err.code !== 'VERSION_CONFLICT' || attempt >= 3) {
          if (err instanceof IcpyError && (err.code === 'FILE_NOT_FOUND' || err.code === 'IS_A_DIRECTORY')) this.unload(entry, 'deleted');
          throw err;
        }
        if (err.data?.currentVersion === null) {
          // Deleted (or moved away) on disk: drop the document, never recreate the file.
          this.unload(entry, 'deleted');
          throw new IcpyError('DOC_GONE', `'${entry.path}' was deleted or moved on disk`, { path: entry.path });
        }
        await this.mergeFromDisk(entry);
      }
    }
  }

  /**
   * Merge the file's text on disk into the live document (within the entry's turn), three-way:
   * the disk's change since the common base is rebased over the live document's unsaved change
   * since that base, so concurrent typing survives and unchanged text (and cursors) stays put.
   */
  private async mergeFromDisk(entry: Entry, origin: EditOrigin = DISK): Promise<void> {
    if (entry.gone) return;
    const files = this.options.files;
    if (files.versionOf) {
      const v = await files.versionOf(entry.path).catch(() => undefined);
      if (v === entry.fileVersion) return;
      if (v === null) return void this.unload(entry, 'deleted');
    }
    let disk: { text: string; version: string };
    try {
      disk = await files.readText(entry.path);
    } catch (err) {
      if (err instanceof IcpyError && ['FILE_NOT_FOUND', 'IS_A_DIRECTORY', 'NOT_A_FILE', 'NOT_TEXT', 'FILE_TOO_LARGE', 'PATH_OUTSIDE_WORKSPACE'].includes(err.code)) {
        this.unload(entry, 'deleted');
        return;
      }
      throw err;
    }
    if (entry.gone || disk.version === entry.fileVersion) return;
    this.mergeText(entry, entry.baseText, disk.text, origin);
    entry.baseText = disk.text;
    entry.fileVersion = disk.version;
    this.markSynced(entry);
  }

  /**
   * Three-way merge of a text another program wrote into the live document: its change since
   * `base` is rebased over the live document's change since that base, so concurrent typing
   * survives and unchanged text (and cursors) stays put.
   */
  private mergeText(entry: Entry, base: string, theirs: string, origin: EditOrigin = DISK): void {
    const live = entry.live;
    const current = live.text.toString();
    if (current === base) live.applyDelta(diffDelta(current, theirs), origin);
    else live.applyDelta(diskMergeDelta(base, theirs, current), origin);
  }

  /** After `baseText`/`fileVersion` were set to the disk's: clean when the text equals it, else saved soon. */
  private markSynced(entry: Entry): void {
    const live = entry.live;
    if (live.text.length === entry.baseText.length && live.text.toString() === entry.baseText) {
      entry.syncedVersion = live.version;
      entry.firstDirtyAt = undefined;
      clearTimeout(entry.saveTimer);
      entry.saveTimer = undefined;
    } else {
      entry.syncedVersion = -1;
      this.scheduleSave(entry);
    }
  }

  private emitSaved(e: SavedEvent): void {
    for (const cb of this.savedListeners) this.safely(() => cb(e));
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.options.logger?.error('docs: listener failed', { error: String(err) });
    }
  }
}
