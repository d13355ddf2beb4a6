import watcher from '@parcel/watcher';
import { lstatSync, watch as fsWatch, type FSWatcher, type Stats } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { EventSource } from '../../core/broker/index.js';
import type { Disposable } from '../../core/lifecycle.js';
import { describeError, type Logger } from '../../core/logger.js';
import { matchRules, parseGitignore } from './gitignore.js';
import type { FsTopic, LocalChange } from './local-changes.js';

export type { FsTopic } from './local-changes.js';

/** The source of changes made by programs other than icpy (an editor, git, a build). */
export const DISK_SOURCE: EventSource = Object.freeze({ connectionId: 'disk', kind: 'system', name: 'disk' });


/** One published batch: every path of one kind of change made by one source. */
export interface FsBatch {
  topic: FsTopic;
  source: EventSource;
  paths: string[];
}

export interface FileWatcherOptions {
  /** Real (symlink-free) workspace root. */
  root: string;
  /** Extra globs (relative to the root) to ignore, besides .git, node_modules and .icpy. */
  ignore?: string[];
  /** Most paths in one event; a bigger batch is split. */
  maxPathsPerEvent?: number;
  /** Collect batches this long before publishing, so a burst becomes a few events. */
  coalesceMs?: number;
  /** Folders watched directly (the fast path, see below) at the most; 0 turns it off. */
  maxHotDirs?: number;
  /** How long a folder stays on the fast path after its last change. */
  hotMs?: number;
  publish: (batch: FsBatch) => void;
  logger?: Logger;
}

/**
 * Plain paths only: @parcel/watcher matches glob ignores with std::regex on every path of the
 * tree, which made start-up on 100k files ~8× slower. Nested .git/node_modules and configured
 * globs are filtered here instead (gitignore syntax).
 */
const BACKEND_IGNORE = ['.git', '.icpy', 'node_modules'];
/** Folder names never walked or reported, at any depth. */
const SKIPPED_NAMES: ReadonlySet<string> = new Set(BACKEND_IGNORE);
const NESTED_IGNORED = /(^|\/)(\.git|node_modules)(\/|$)/;
const TEMP_FILE = /\.icpy-[0-9a-f]{12}\.tmp$/;

/** How long icpy's own changes (and published states) are remembered to drop the native reports of them. */
const DEDUP_MS = 10_000;
/** Most remembered states; the oldest go first beyond this. */
const MAX_REMEMBERED = 200_000;

/** After a flush this large, the next one waits BURST_COALESCE_MS, so a burst stays a few events. */
const BURST_PATHS = 200;
const BURST_COALESCE_MS = 150;

/**
 * Recursive native watcher over the workspace. Events from @parcel/watcher (already batched by
 * the backend) are classified, coalesced for `coalesceMs`, and published with DISK_SOURCE as one
 * event per topic carrying a `paths` array. Changes icpy makes are not its to report: the files
 * service publishes those itself, with their caller as source (ChangeSink), and tells the watcher
 * the state it left (`made`), so the native report of exactly that state is dropped; while an
 * icpy change is under way (`begin`) native reports of its paths wait for it to finish.
 *
 * Fast path: the backend waits for 50 ms of quiet and at most 500 ms before it reports, so a
 * steady stream of writes (a build, a log) would reach clients half a second late. A folder the
 * backend has just reported another program's changes in (not icpy's own: see changedByOthers)
 * is therefore also watched directly (non-recursive
 * `fs.watch`, i.e. one inotify watch) for `hotMs`, at most `maxHotDirs` folders at once. Its
 * events go through the same classification; the backend's later report of the same change is
 * dropped, because the last reported state of each path (exists, mtime, size) is remembered.
 */
export class FileWatcher implements Disposable {
  private sub: watcher.AsyncSubscription | undefined;
  /** Real paths icpy is changing right now (count of calls). */
  private readonly inflight = new Map<string, number>();
  /** Folders icpy removed or moved away, with when: native deletes under them are its own. */
  private readonly tombstones = new Map<string, number>();
  /** Folders icpy moved or copied into place, with when (ms): native creates under them with an older ctime are its own. */
  private readonly placed = new Map<string, number>();
  private readonly knownDirs = new Set<string>();
  /** Paths reported from scanning a new folder; the backend's own late create is a duplicate. */
  private readonly scanned = new Map<string, number>();
  private pending: watcher.Event[] = [];
  private timer: NodeJS.Timeout | undefined;
  private processing: Promise<void> = Promise.resolve();
  private disposed = false;
  private readonly maxPaths: number;
  private readonly coalesceMs: number;

  private readonly ignoreRules: ReturnType<typeof parseGitignore>;
  private readonly hot = new Map<string, { watcher: FSWatcher; until: number }>();
  private hotTimer: NodeJS.Timeout | undefined;
  /** Last reported state per real path, so one change reported by both paths is published once. */
  private readonly reported = new Map<string, { exists: boolean; mtimeMs: number; ctimeMs: number; ino: number; size: number; at: number }>();
  private lastFlushPaths = 0;
  private readonly maxHot: number;
  private readonly hotMs: number;

  constructor(private readonly opts: FileWatcherOptions) {
    this.ignoreRules = parseGitignore((opts.ignore ?? []).join('\n'));
    this.maxPaths = opts.maxPathsPerEvent ?? 1000;
    this.coalesceMs = opts.coalesceMs ?? 20;
    this.maxHot = opts.maxHotDirs ?? 32;
    this.hotMs = opts.hotMs ?? 5000;
  }

  async start(): Promise<void> {
    this.sub = await watcher.subscribe(
      this.opts.root,
      (err, events) => {
        if (err) {
          this.opts.logger?.warn('files: watcher error', describeError(err));
          return;
        }
        this.pending.push(...events);
        const heated = new Set<string>();
        for (const e of events) {
          if (e.type === 'delete') continue;
          const dir = dirname(e.path);
          if (heated.has(dir) || !this.changedByOthers(e.path)) continue;
          heated.add(dir);
          this.heat(dir);
        }
        this.schedule();
      },
      { ignore: BACKEND_IGNORE },
    );
    // Which paths are folders, so a delete (which has no type) becomes fs.dir.deleted. Filled in
    // the background: the watcher is live before the walk ends.
    void this.walkDirs(this.opts.root, 0).catch(() => undefined);
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => this.flush(), this.lastFlushPaths > BURST_PATHS ? BURST_COALESCE_MS : this.coalesceMs);
  }

  /**
   * Whether a backend report may be another program's change: not icpy's temp file, not a path
   * icpy is changing right now, not the state icpy (or this watcher) already published. Only such
   * changes put a folder on the fast path. icpy's own writes used to keep every folder it wrote
   * in hot, and each of its atomic saves then cost the main thread four folder-watch callbacks
   * and an lstat, all dropped (issue 9, bench/files `mixed`: a REST write cost several reads).
   */
  private changedByOthers(path: string): boolean {
    if (TEMP_FILE.test(path) || this.isInflight(path)) return false;
    return !this.alreadyReported(path, lstatSafe(path));
  }

  /** Folders on the fast path now (for tests and diagnostics). */
  get hotDirs(): string[] {
    return [...this.hot.keys()];
  }

  /** Put a folder on the fast path (or keep it there). */
  private heat(dir: string): void {
    if (this.disposed || this.maxHot <= 0 || TEMP_FILE.test(dir)) return;
    const until = Date.now() + this.hotMs;
    const entry = this.hot.get(dir);
    if (entry) {
      entry.until = until;
      return;
    }
    if (this.hot.size >= this.maxHot) {
      let oldest: string | undefined;
      for (const [d, e] of this.hot) if (oldest === undefined || e.until < this.hot.get(oldest)!.until) oldest = d;
      this.cool(oldest!);
    }
    let w: FSWatcher;
    try {
      w = fsWatch(dir, { persistent: false }, (kind, name) => {
        if (!name || this.disposed) return;
        const base = name.toString();
        if (TEMP_FILE.test(base)) return; // icpy's own temp files: most events of an atomic save
        const path = join(dir, base);
        const st = lstatSafe(path);
        const last = this.reported.get(path);
        let type: watcher.EventType;
        if (kind === 'change') {
          // Contents or attributes of an entry changed.
          if (!st) return;
          type = 'update';
        } else if (!st) {
          // An entry left the folder (deleted or moved away).
          if (!last?.exists && !this.knownDirs.has(path)) return; // never reported: nothing to retract
          type = 'delete';
        } else {
          // An entry appeared (created, or moved/atomically saved over): new unless known to exist.
          type = last?.exists ? 'update' : 'create';
        }
        this.pending.push({ path, type });
        const h = this.hot.get(dir);
        if (h) h.until = Date.now() + this.hotMs;
        this.schedule();
      });
    } catch {
      return; // gone already, or out of inotify watches: the backend still reports
    }
    w.on('error', () => this.cool(dir));
    this.hot.set(dir, { watcher: w, until });
    this.hotTimer ??= setInterval(() => {
      const now = Date.now();
      for (const [d, e] of this.hot) if (e.until < now) this.cool(d);
      if (!this.hot.size) {
        clearInterval(this.hotTimer);
        this.hotTimer = undefined;
      }
    }, 1000);
    this.hotTimer.unref();
  }

  private cool(dir: string): void {
    const e = this.hot.get(dir);
    if (!e) return;
    this.hot.delete(dir);
    e.watcher.close();
  }

  /** True when this state of the path was already published (by the other path). */
  private alreadyReported(path: string, st: Stats | undefined): boolean {
    const last = this.reported.get(path);
    if (!last) return false;
    if (!st) return !last.exists;
    if (!last.exists) return false;
    // Folders: existence is the state (their mtime moves with every entry).
    return st.isDirectory() || (last.mtimeMs === st.mtimeMs && last.ctimeMs === st.ctimeMs && last.ino === st.ino && last.size === st.size);
  }

  private remember(path: string, st: Stats | undefined, now: number): void {
    this.reported.delete(path); // re-inserted last: the map stays in age order
    this.reported.set(path, { exists: !!st, mtimeMs: st?.mtimeMs ?? 0, ctimeMs: st?.ctimeMs ?? 0, ino: st?.ino ?? 0, size: st?.size ?? 0, at: now });
    if (this.reported.size > MAX_REMEMBERED) this.reported.delete(this.reported.keys().next().value!);
  }

  /** icpy is about to change these real paths; their native reports wait until the returned call. */
  begin(realPaths: string[]): () => void {
    for (const p of realPaths) this.inflight.set(p, (this.inflight.get(p) ?? 0) + 1);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      for (const p of realPaths) {
        const n = (this.inflight.get(p) ?? 1) - 1;
        if (n > 0) this.inflight.set(p, n);
        else this.inflight.delete(p);
      }
      if (this.pending.length) this.schedule();
    };
  }

  /** icpy made (and published) these changes: remember the state it left, to drop their native reports. */
  made(changes: LocalChange[]): void {
    const now = Date.now();
    for (const c of changes) {
      if (c.topic.endsWith('.deleted')) {
        this.remember(c.real, undefined, now);
        this.knownDirs.delete(c.real);
        if (c.tree) {
          this.tombstones.set(c.real, now);
          for (const d of this.knownDirs) if ((d === c.real || d.startsWith(c.real + sep))) this.knownDirs.delete(d);
        }
      } else {
        const st = lstatSafe(c.real);
        this.remember(c.real, st, now);
        this.tombstones.delete(c.real);
        if (st?.isDirectory()) this.knownDirs.add(c.real);
        if (c.tree) this.placed.set(c.real, now);
      }
    }
  }

  /** True when `path` or one of its folders is being changed by icpy right now. */
  private isInflight(path: string): boolean {
    if (!this.inflight.size) return false;
    for (let p = path; ; ) {
      if (this.inflight.has(p)) return true;
      const up = dirname(p);
      if (up === p || up.length < this.opts.root.length) return false;
      p = up;
    }
  }

  /** The nearest folder of `path` (or itself) in `map`, and its time. */
  private nearest(map: Map<string, number>, path: string): number | undefined {
    if (!map.size) return undefined;
    for (let p = path; ; ) {
      const at = map.get(p);
      if (at !== undefined) return at;
      const up = dirname(p);
      if (up === p || up.length < this.opts.root.length) return undefined;
      p = up;
    }
  }

  /** Tell the watcher a folder exists (from listings and mkdir), for delete classification. */
  noteDir(real: string): void {
    this.knownDirs.add(real);
  }

  private async walkDirs(dir: string, depth: number): Promise<void> {
    if (this.disposed || depth > 64) return;
    this.knownDirs.add(dir);
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory() && !SKIPPED_NAMES.has(e.name)) await this.walkDirs(join(dir, e.name), depth + 1);
    }
  }

  private flush(): void {
    this.timer = undefined;
    const events = this.pending;
    this.pending = [];
    this.processing = this.processing.then(() => this.classify(events)).catch((err) => this.opts.logger?.warn('files: watcher batch failed', describeError(err)));
  }

  private async classify(events: watcher.Event[]): Promise<void> {
    if (this.disposed) return;
    const now = Date.now();
    for (const [p, until] of this.scanned) if (until < now) this.scanned.delete(p);
    for (const [p, r] of this.reported) {
      if (now - r.at <= DEDUP_MS) break; // age order
      this.reported.delete(p);
    }
    for (const m of [this.tombstones, this.placed]) for (const [p, at] of m) if (now - at > DEDUP_MS) m.delete(p);
    // Reports of paths icpy is changing right now wait for it (it publishes its own change).
    if (this.inflight.size) {
      const later = events.filter((e) => this.isInflight(e.path));
      if (later.length) {
        events = events.filter((e) => !this.isInflight(e.path));
        this.pending.push(...later);
      }
    }
    // Last event per path wins within a batch (create+update → created; create+delete → nothing).
    const byPath = new Map<string, watcher.EventType>();
    for (const e of events) {
      if (TEMP_FILE.test(e.path)) continue;
      if (e.type === 'create' && this.scanned.has(e.path)) continue;
      const prev = byPath.get(e.path);
      if (prev === 'create' && e.type === 'update') continue;
      if (prev === 'create' && e.type === 'delete') {
        byPath.delete(e.path);
        continue;
      }
      if (prev === 'delete' && e.type === 'create') {
        byPath.set(e.path, 'update');
        continue;
      }
      byPath.set(e.path, e.type);
    }
    const groups = new Map<string, FsBatch>();
    const add = (topic: FsTopic, source: EventSource, rel: string) => {
      const key = `${topic}\0${source.connectionId}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { topic, source, paths: [] }));
      g.paths.push(rel);
    };
    // Synchronous lstat: a batch's paths are page-cached and a thread-pool trip costs more.
    const stats = [...byPath].map(([path, type]) => (type === 'delete' ? undefined : lstatSafe(path)));
    let i = 0;
    for (const [path, type] of byPath) {
      const st = stats[i++];
      const rel = relative(this.opts.root, path).split(sep).join('/');
      if (!rel || rel.startsWith('..') || this.isIgnored(rel, st?.isDirectory() ?? false)) continue;
      const source = DISK_SOURCE;
      if (type === 'delete') {
        if (this.alreadyReported(path, undefined)) continue;
        // under a folder icpy removed or moved away, and gone: part of icpy's own change
        if (this.nearest(this.tombstones, path) !== undefined && !lstatSafe(path)) {
          this.knownDirs.delete(path);
          continue;
        }
        this.remember(path, undefined, now);
        const wasDir = this.knownDirs.delete(path);
        add(wasDir ? 'fs.dir.deleted' : 'fs.file.deleted', source, rel);
      } else if (!st) {
        continue; // gone again before we looked; its delete follows
      } else if (this.alreadyReported(path, st)) {
        continue; // the other path (fast or backend), or icpy itself, published this very state
      } else if (this.isPlacedByIcpy(path, st)) {
        if (st.isDirectory()) this.knownDirs.add(path);
        this.remember(path, st, now);
        continue;
      } else if (st.isDirectory()) {
        this.remember(path, st, now);
        if (type === 'create') {
          this.knownDirs.add(path);
          add('fs.dir.created', source, rel);
          // Files made inside a new folder before the backend watched it would go unreported.
          for (const found of await this.scanNew(path, byPath, now)) {
            const frel = relative(this.opts.root, found.path).split(sep).join('/');
            if (this.isIgnored(frel, found.dir)) continue;
            add(found.dir ? 'fs.dir.created' : 'fs.file.created', source, frel);
          }
        }
      } else {
        const existed = this.reported.get(path)?.exists;
        this.remember(path, st, now);
        add(type === 'create' && !existed ? 'fs.file.created' : 'fs.file.changed', source, rel);
      }
    }
    this.lastFlushPaths = byPath.size;
    for (const g of groups.values()) for (const rel of g.paths) if (!g.topic.endsWith('.deleted')) this.clearTombstones(join(this.opts.root, rel));
    if (this.pending.length) this.schedule();
    for (const g of groups.values()) {
      g.paths.sort();
      for (let k = 0; k < g.paths.length; k += this.maxPaths) {
        if (this.disposed) return;
        this.opts.publish({ topic: g.topic, source: g.source, paths: g.paths.slice(k, k + this.maxPaths) });
      }
    }
  }

  /** Inside a folder icpy moved or copied into place, unchanged since (ctime not after that). */
  private isPlacedByIcpy(path: string, st: Stats): boolean {
    if (!this.placed.size) return false;
    const at = this.nearest(this.placed, dirname(path));
    return at !== undefined && st.ctimeMs <= at;
  }

  /** Something appeared at `path` that icpy did not make: deletes under it are no longer icpy's. */
  private clearTombstones(path: string): void {
    if (!this.tombstones.size) return;
    for (let p = path; ; ) {
      this.tombstones.delete(p);
      const up = dirname(p);
      if (up === p || up.length < this.opts.root.length) return;
      p = up;
    }
  }

  /** Nested .git / node_modules, and the configured globs (matched on the path and its parents). */
  private isIgnored(rel: string, isDir: boolean): boolean {
    if (NESTED_IGNORED.test(rel)) return true;
    if (!this.ignoreRules.length) return false;
    const parts = rel.split('/');
    for (let i = 1; i <= parts.length; i++) {
      if (matchRules(this.ignoreRules, parts.slice(0, i).join('/'), i < parts.length || isDir)) return true;
    }
    return false;
  }

  /** Everything under a newly created folder that this batch does not already mention. */
  private async scanNew(dir: string, byPath: Map<string, watcher.EventType>, now: number): Promise<{ path: string; dir: boolean }[]> {
    const out: { path: string; dir: boolean }[] = [];
    const visit = async (d: string, depth: number) => {
      if (depth > 32 || out.length > 100_000) return;
      let entries;
      try {
        entries = await readdir(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (SKIPPED_NAMES.has(e.name) || TEMP_FILE.test(e.name)) continue;
        const p = join(d, e.name);
        const isDir = e.isDirectory();
        if (isDir) this.knownDirs.add(p);
        if (!byPath.has(p) && !this.scanned.has(p)) {
          this.scanned.set(p, now + 2000);
          out.push({ path: p, dir: isDir });
        }
        if (isDir) await visit(p, depth + 1);
      }
    };
    await visit(dir, 0);
    return out;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    clearInterval(this.hotTimer);
    this.hotTimer = undefined;
    for (const d of [...this.hot.keys()]) this.cool(d);
    const sub = this.sub;
    this.sub = undefined;
    // @parcel/watcher fails to remove an inotify watch whose folder was swapped for a symlink
    // ("Invalid argument"); the subscription is gone either way, so shutdown goes on.
    await sub?.unsubscribe().catch((err: unknown) => this.opts.logger?.warn('files: watcher unsubscribe failed', describeError(err)));
    await this.processing;
  }
}

function lstatSafe(path: string): Stats | undefined {
  try {
    return lstatSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}
