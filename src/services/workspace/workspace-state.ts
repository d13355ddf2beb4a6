import { posix } from 'node:path';
import type { Broker, EventSource } from '../../core/broker/index.js';
import { IcpyError } from '../../core/errors.js';
import type { Disposable } from '../../core/lifecycle.js';
import { fromEntries, ownEntries } from '../../core/user-keys.js';

/** A persisted section of state: its value, version (bumped per change) and last writer. */
export interface StateRecord<T = unknown> {
  value: T;
  version: number;
  updatedBy: EventSource | null;
  updatedAt: number;
}

/** What the workspace service needs from storage (the SQLite store satisfies it). */
export interface WorkspaceStore {
  load(): Map<string, StateRecord>;
  save(key: string, rec: StateRecord): void;
  delete(key: string): void;
}

export interface OpenEditor {
  path: string;
  openedAt: number;
  openedBy: EventSource;
}

export interface Editors {
  open: OpenEditor[];
  active: string | null;
}

export interface Position {
  line: number;
  column: number;
}

export interface Cursor {
  path: string;
  line: number;
  column: number;
  selections: { start: Position; end: Position }[];
  client: EventSource;
  updatedAt: number;
}

export type Layout = Record<string, unknown>;

/**
 * Merge policy per key (docs/protocol/workspace.md):
 * - editors, terminals, layouts (named), preferences (each key separately): last writer wins,
 *   the writer's identity and time are recorded with the new version.
 * - layout (the current one): reject-on-stale; every change names the version it was based on
 *   and a stale one fails with VERSION_CONFLICT carrying the current version and value.
 * - cursors: each connection owns its own entry (no conflicts); dropped when it disconnects and
 *   not kept across restarts.
 */
export const MERGE_POLICY = {
  editors: 'last-writer-wins',
  layout: 'reject-on-stale',
  layouts: 'last-writer-wins',
  terminals: 'last-writer-wins',
  preferences: 'last-writer-wins (per key)',
  cursors: 'owner-only (per connection)',
} as const;

const PREF = 'pref:';

/**
 * The authoritative workspace state. Every change is applied in memory, persisted, then
 * published, all synchronously, so `snapshot()` and the broker's lastSeq read together always
 * agree: a client that loads the snapshot and subscribes with since = seq misses nothing and
 * sees nothing twice.
 */
export class WorkspaceState implements Disposable {
  private readonly records: Map<string, StateRecord>;
  private readonly cursors = new Map<string, Cursor>();
  private readonly closedSub: Disposable;

  constructor(
    private readonly root: string,
    private readonly store: WorkspaceStore,
    private readonly broker: Broker,
  ) {
    this.records = store.load();
    this.repairCurrentName();
    this.closedSub = broker.subscribe(['connection.closed'], (ev) => {
      const id = (ev.data as { id?: string }).id;
      if (id && this.cursors.delete(id)) this.broker.publish('workspace.cursor.removed', { connectionId: id }, ev.source);
    });
  }

  private rec<T>(key: string, initial: T): StateRecord<T> {
    return (this.records.get(key) as StateRecord<T> | undefined) ?? { value: initial, version: 0, updatedBy: null, updatedAt: 0 };
  }

  private commit<T>(key: string, value: T, source: EventSource): StateRecord<T> {
    const prev = this.records.get(key);
    const rec: StateRecord<T> = { value, version: (prev?.version ?? 0) + 1, updatedBy: source, updatedAt: Date.now() };
    this.store.save(key, rec);
    this.records.set(key, rec);
    return rec;
  }

  /** Saved layouts by name; a Map, so no name (`constructor`, `__proto__`…) meets a prototype. */
  private savedLayouts(): Map<string, Layout> {
    return ownEntries(this.rec<Record<string, Layout>>('layouts', {}).value);
  }

  private currentLayout(): StateRecord<{ name: string | null; layout: Layout }> {
    return this.rec<{ name: string | null; layout: Layout }>('layout', { name: null, layout: {} });
  }

  /**
   * State written before deleteLayout cleared the current name can name a layout that is no
   * longer saved; it is shown as unnamed (same version: nothing a client saw changes meaning).
   */
  private repairCurrentName(): void {
    const cur = this.records.get('layout') as StateRecord<{ name: string | null; layout: Layout }> | undefined;
    if (!cur || cur.value.name === null || this.savedLayouts().has(cur.value.name)) return;
    const fixed = { ...cur, value: { name: null, layout: cur.value.layout } };
    this.store.save('layout', fixed);
    this.records.set('layout', fixed);
  }

  /** Normalize a client path to workspace-relative form; no disk access (a file may be new). */
  normalizePath(p: string): string {
    let s = p.replace(/\\/g, '/');
    const root = this.root.replace(/\\/g, '/');
    if (s === root) s = '';
    else if (s.startsWith(root + '/')) s = s.slice(root.length + 1);
    else if (s.startsWith('/')) throw new IcpyError('PATH_OUTSIDE_WORKSPACE', `Path '${p}' is outside the workspace`, { path: p });
    const n = posix.normalize(s || '.');
    if (n === '..' || n.startsWith('../')) throw new IcpyError('PATH_OUTSIDE_WORKSPACE', `Path '${p}' is outside the workspace`, { path: p });
    if (n === '.') throw new IcpyError('INVALID_PARAMS', 'path: name a file', { field: 'path' });
    return n.replace(/\/$/, '');
  }

  snapshot() {
    const preferences = fromEntries([...this.records].filter(([k]) => k.startsWith(PREF)).map(([k, r]) => [k.slice(PREF.length), r] as const));
    const stats = this.broker.stats();
    return {
      seq: stats.lastSeq,
      epoch: stats.epoch,
      state: {
        editors: this.rec<Editors>('editors', { open: [], active: null }),
        layout: this.currentLayout(),
        layouts: this.rec<Record<string, Layout>>('layouts', {}),
        terminals: this.rec<string[]>('terminals', []),
        preferences,
        cursors: fromEntries(this.cursors),
      },
      mergePolicy: MERGE_POLICY,
    };
  }

  openFile(path: string, opts: { line?: number; column?: number; activate?: boolean }, source: EventSource) {
    const rel = this.normalizePath(path);
    const cur = this.rec<Editors>('editors', { open: [], active: null }).value;
    const already = cur.open.some((e) => e.path === rel);
    const open = already ? cur.open : [...cur.open, { path: rel, openedAt: Date.now(), openedBy: source }];
    const active = opts.activate === false ? cur.active : rel;
    const rec = this.commit<Editors>('editors', { open, active }, source);
    const data = {
      path: rel,
      ...(opts.line !== undefined ? { line: opts.line } : {}),
      ...(opts.column !== undefined ? { column: opts.column } : {}),
      index: open.findIndex((e) => e.path === rel),
      alreadyOpen: already,
      active: rec.value.active,
      version: rec.version,
    };
    this.broker.publish('workspace.file.opened', data, source);
    return data;
  }

  closeFile(path: string, source: EventSource) {
    const rel = this.normalizePath(path);
    const cur = this.rec<Editors>('editors', { open: [], active: null }).value;
    const i = cur.open.findIndex((e) => e.path === rel);
    if (i < 0) throw new IcpyError('NOT_FOUND', `'${rel}' is not open`, { path: rel });
    const open = cur.open.filter((e) => e.path !== rel);
    // Closing the active editor activates its right neighbour, else its left one (as editors do).
    const active = cur.active === rel ? (open[i] ?? open[i - 1])?.path ?? null : cur.active;
    const rec = this.commit<Editors>('editors', { open, active }, source);
    const data = { path: rel, active, version: rec.version };
    this.broker.publish('workspace.file.closed', data, source);
    return data;
  }

  reorder(paths: string[], source: EventSource) {
    const rels = paths.map((p) => this.normalizePath(p));
    const cur = this.rec<Editors>('editors', { open: [], active: null }).value;
    const have = new Set(cur.open.map((e) => e.path));
    if (rels.length !== have.size || new Set(rels).size !== rels.length || rels.some((p) => !have.has(p))) {
      throw new IcpyError('INVALID_PARAMS', 'paths: must list every open editor exactly once', { field: 'paths', open: [...have] });
    }
    const byPath = new Map(cur.open.map((e) => [e.path, e]));
    const rec = this.commit<Editors>('editors', { open: rels.map((p) => byPath.get(p)!), active: cur.active }, source);
    const data = { paths: rels, version: rec.version };
    this.broker.publish('workspace.files.reordered', data, source);
    return data;
  }

  setActive(path: string | null, source: EventSource) {
    const rel = path === null ? null : this.normalizePath(path);
    const cur = this.rec<Editors>('editors', { open: [], active: null }).value;
    if (rel !== null && !cur.open.some((e) => e.path === rel)) throw new IcpyError('NOT_FOUND', `'${rel}' is not open; use workspace.openFile`, { path: rel });
    const rec = this.commit<Editors>('editors', { open: cur.open, active: rel }, source);
    const data = { path: rel, version: rec.version };
    this.broker.publish('workspace.file.activated', data, source);
    return data;
  }

  setCursor(c: { path: string; line: number; column: number; selections?: { start: Position; end: Position }[] }, source: EventSource) {
    const cursor: Cursor = { path: this.normalizePath(c.path), line: c.line, column: c.column, selections: c.selections ?? [], client: source, updatedAt: Date.now() };
    this.cursors.set(source.connectionId, cursor);
    const data = { connectionId: source.connectionId, ...cursor };
    this.broker.publish('workspace.cursor.moved', data, source);
    return data;
  }

  setLayout(layout: Layout, expectedVersion: number, source: EventSource, name: string | null = null) {
    const cur = this.currentLayout();
    if (cur.version !== expectedVersion) {
      throw new IcpyError('VERSION_CONFLICT', `layout is at version ${cur.version}, not ${expectedVersion}`, {
        key: 'layout',
        expectedVersion,
        currentVersion: cur.version,
        current: cur.value,
        updatedBy: cur.updatedBy,
      });
    }
    const rec = this.commit('layout', { name, layout }, source);
    const data = { name, layout, version: rec.version };
    this.broker.publish('workspace.layout.changed', data, source);
    return data;
  }

  saveLayout(name: string, source: EventSource) {
    const cur = this.currentLayout().value;
    const all = this.savedLayouts();
    all.set(name, cur.layout);
    const rec = this.commit('layouts', fromEntries(all), source);
    const data = { name, layout: cur.layout, version: rec.version };
    this.broker.publish('workspace.layout.saved', data, source);
    return data;
  }

  switchLayout(name: string, source: EventSource) {
    const all = this.savedLayouts();
    const layout = all.get(name);
    if (!layout) throw new IcpyError('NOT_FOUND', `No saved layout '${name}'`, { name, saved: [...all.keys()] });
    // Switching is a whole-layout replacement chosen by name: last writer wins.
    const rec = this.commit('layout', { name, layout }, source);
    const data = { name, layout, version: rec.version };
    this.broker.publish('workspace.layout.switched', data, source);
    return data;
  }

  /**
   * Forget a saved layout. When it is the current one, the current layout keeps its panels but
   * is no longer named (it is not saved any more): its name becomes null, its version rises, and
   * workspace.layout.changed follows workspace.layout.deleted.
   */
  deleteLayout(name: string, source: EventSource) {
    const all = this.savedLayouts();
    if (!all.delete(name)) throw new IcpyError('NOT_FOUND', `No saved layout '${name}'`, { name, saved: [...all.keys()] });
    const rec = this.commit('layouts', fromEntries(all), source);
    const cur = this.currentLayout();
    const wasCurrent = cur.value.name === name;
    const data = { name, version: rec.version, wasCurrent };
    this.broker.publish('workspace.layout.deleted', data, source);
    if (wasCurrent) {
      const now = this.commit('layout', { name: null, layout: cur.value.layout }, source);
      this.broker.publish('workspace.layout.changed', { name: null, layout: cur.value.layout, version: now.version }, source);
    }
    return data;
  }

  setTerminals(terminals: string[], source: EventSource) {
    const rec = this.commit('terminals', terminals, source);
    const data = { terminals, version: rec.version };
    this.broker.publish('workspace.terminals.changed', data, source);
    return data;
  }

  /** Set (or with null, remove) preference keys; each key is its own last-writer-wins record. */
  setPreferences(values: Record<string, unknown>, source: EventSource) {
    const versions = new Map<string, number>();
    for (const [k, v] of Object.entries(values)) {
      if (v === null) {
        const prev = this.records.get(PREF + k);
        this.records.delete(PREF + k);
        this.store.delete(PREF + k);
        versions.set(k, (prev?.version ?? 0) + 1);
      } else versions.set(k, this.commit(PREF + k, v, source).version);
    }
    const data = { values, versions: fromEntries(versions) };
    this.broker.publish('workspace.preferences.changed', data, source);
    return data;
  }

  dispose(): void {
    this.closedSub.dispose();
  }
}
