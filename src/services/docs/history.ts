import { createHash } from 'node:crypto';
import { createTwoFilesPatch } from 'diff';
import { SYSTEM_SOURCE, type EventSource } from '../../core/broker/index.js';
import { IcpyError } from '../../core/errors.js';
import { DisposableStore, type Disposable } from '../../core/lifecycle.js';
import { describeError, type Logger } from '../../core/logger.js';
import type { ConnectionInfo } from '../../core/rpc/index.js';

/** One recorded version of a file (content fetched separately). */
export interface VersionInfo {
  path: string;
  /** 1, 2, 3… per path, never reused. */
  version: number;
  time: number;
  author: EventSource;
  /** UTF-8 bytes. */
  size: number;
  sha256: string;
  /** Why it was recorded when not a plain save ('restored from v3', 'opened from disk'). */
  label?: string;
  /** Checkpoint name (docs.checkpoint). */
  name?: string;
}

export interface Retention {
  maxVersions: number;
  maxBytes: number;
}

/** Where versions live (storage/sqlite-doc-history.ts satisfies it). */
export interface HistoryStore {
  latest(path: string): VersionInfo | undefined;
  get(path: string, version: number): VersionInfo | undefined;
  /** Newest first, versions below `before`. */
  list(path: string, opts: { limit: number; before?: number }): VersionInfo[];
  content(path: string, version: number): Promise<string | undefined>;
  /** Numbered after the newest; then the path is pruned to `retention` (oldest unnamed first, the newest never). */
  add(v: { path: string; time: number; author: EventSource; text: string; sha256: string; label?: string; name?: string }, retention: Retention): Promise<VersionInfo>;
  setName(path: string, version: number, name: string): VersionInfo | undefined;
}

export interface SavedEvent {
  path: string;
  text: string;
  fileVersion: string;
  author: EventSource;
  time: number;
  label?: string;
}

/** What history needs from the documents service (DocService satisfies it). */
export interface HistoryDocs {
  get(path: string): Promise<{ path: string; text: string; dirty: boolean }>;
  open(path: string, holder: ConnectionInfo): Promise<{ path: string }>;
  release(path: string, holderId: string): void;
  replaceText(path: string, text: string, source: EventSource): Promise<{ version: number }>;
  save(path: string, opts?: { source?: EventSource; label?: string }): Promise<{ path: string; fileVersion: string; saved: boolean }>;
  onSaved(cb: (e: SavedEvent) => void): Disposable;
  onOpened(cb: (d: { path: string; onNextChange(cb: (textBefore: string) => void): void }) => void): Disposable;
}

export interface DocHistoryOptions {
  retention: Retention;
  /** A path as a client gives it → the workspace-relative form the documents service uses. */
  normalizePath: (input: string) => string;
  logger: Logger;
  /** Largest unified diff docs.diff returns (REPLY_TOO_LARGE above). */
  maxDiffBytes: number;
  /** docs.diff gives up (TIMEOUT) after this long; the diff runs in slices, never blocking other clients. */
  diffTimeoutMs?: number;
}

const OPENED_LABEL = 'opened from disk';
export const DIFF_TIMEOUT_MS = 5000;

export const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * Version history of workspace files (the plan's content service): every save of a live document
 * records a version, plus the text as found on disk when a document is opened, recorded at its
 * first change (so the state before the first edit can be restored). Identical consecutive content is recorded once. Recording is
 * serialised per path, so version numbers follow save order.
 */
export class DocHistory implements Disposable {
  private readonly store = new DisposableStore();
  /** Tail of the recording chain per path (removed when idle). */
  private readonly pending = new Map<string, Promise<unknown>>();
  private disposed = false;

  constructor(
    private readonly versions: HistoryStore,
    private readonly docs: HistoryDocs,
    private readonly opts: DocHistoryOptions,
  ) {
    this.store.add(docs.onSaved((e) => void this.record(e.path, e.text, e.author, { time: e.time, label: e.label })));
    // The text as opened is recorded when the first change is about to replace it (a file that is
    // only looked at records nothing: no hash, compression or insert on the way to its first sync).
    this.store.add(
      docs.onOpened((d) => {
        const path = d.path;
        d.onNextChange((before) => void this.record(path, before, SYSTEM_SOURCE, { label: OPENED_LABEL }));
      }),
    );
  }

  /**
   * Record `text` as the newest version of `path` unless it equals the newest already (`force`
   * records anyway). Resolves with the version recorded, or undefined when skipped or failed.
   */
  record(path: string, text: string, author: EventSource, o: { time?: number; label?: string; name?: string; force?: boolean } = {}): Promise<VersionInfo | undefined> {
    return this.serial(path, async () => {
      if (this.disposed) return undefined;
      const hash = sha256(text);
      if (!o.force && this.versions.latest(path)?.sha256 === hash) return undefined;
      try {
        return await this.versions.add(
          { path, time: o.time ?? Date.now(), author, text, sha256: hash, ...(o.label !== undefined ? { label: o.label } : {}), ...(o.name !== undefined ? { name: o.name } : {}) },
          this.opts.retention,
        );
      } catch (err) {
        if (!this.disposed) this.opts.logger.error('docs: a version could not be recorded', { path, ...describeError(err) });
        return undefined;
      }
    });
  }

  /** Resolves once every recording of `path` started so far is done. */
  async idle(path: string): Promise<void> {
    await this.pending.get(path);
  }

  /** Reads wait for the recordings already started, so a save that has returned is always listed. */
  async history(input: string, o: { limit: number; before?: number }): Promise<{ path: string; versions: VersionInfo[]; nextBefore?: number }> {
    const path = this.opts.normalizePath(input);
    await this.idle(path);
    const rows = this.versions.list(path, { limit: o.limit + 1, ...(o.before !== undefined ? { before: o.before } : {}) });
    const versions = rows.slice(0, o.limit);
    return rows.length > o.limit ? { path, versions, nextBefore: versions[versions.length - 1]!.version } : { path, versions };
  }

  async version(input: string, version: number): Promise<VersionInfo & { content: string }> {
    const path = this.opts.normalizePath(input);
    await this.idle(path);
    const info = this.need(path, version);
    const content = await this.versions.content(path, version);
    if (content === undefined) throw notFound(path, version);
    return { ...info, content };
  }

  async diff(input: string, from: number | 'current', to: number | 'current'): Promise<{ path: string; from: number | 'current'; to: number | 'current'; diff: string; identical: boolean }> {
    const path = this.opts.normalizePath(input);
    await this.idle(path);
    const [a, b] = [await this.textOf(path, from), await this.textOf(path, to)];
    const timeout = this.opts.diffTimeoutMs ?? DIFF_TIMEOUT_MS;
    const name = (v: number | 'current') => (v === 'current' ? 'current' : `v${v}`);
    const patch = await new Promise<string | undefined>((resolve) =>
      // callback mode: the diff runs in slices on the event loop (other clients keep being served).
      createTwoFilesPatch(`a/${path}`, `b/${path}`, a, b, name(from), name(to), { context: 3, timeout, callback: resolve }),
    );
    if (patch === undefined) throw new IcpyError('TIMEOUT', `The diff of '${path}' ${name(from)}..${name(to)} took longer than ${timeout} ms and was stopped`, { path, from, to });
    const bytes = Buffer.byteLength(patch, 'utf8');
    if (bytes > this.opts.maxDiffBytes) throw new IcpyError('REPLY_TOO_LARGE', `The diff is ${bytes} bytes, more than ${this.opts.maxDiffBytes}; fetch both versions with docs.version instead`, { limit: 'maxReplyBytes', max: this.opts.maxDiffBytes, size: bytes });
    return { path, from, to, diff: patch, identical: a === b };
  }

  /**
   * Make version `version` the current text: through the live document (open editors change in
   * place, cursors kept), saved to disk, recorded as a new version labelled 'restored from vN'.
   * Nothing is lost: the text it replaces is already a version (it was saved or opened).
   */
  async restore(input: string, version: number, caller: ConnectionInfo, source: EventSource): Promise<{ path: string; version: number; restoredFrom: number; fileVersion: string }> {
    const path = this.opts.normalizePath(input);
    await this.idle(path);
    this.need(path, version);
    const text = await this.versions.content(path, version);
    if (text === undefined) throw notFound(path, version);
    const label = `restored from v${version}`;
    const doc = await this.docs.open(path, caller);
    try {
      // The current text is kept before it is replaced (it may hold unsaved typing).
      const before = await this.docs.get(doc.path);
      if (before.dirty) await this.docs.save(doc.path, { source });
      await this.idle(doc.path);
      const newestBefore = this.versions.latest(doc.path)?.version ?? 0;
      await this.docs.replaceText(doc.path, text, source);
      const saved = await this.docs.save(doc.path, { source, label });
      await this.idle(doc.path);
      let rec = this.versions.latest(doc.path);
      // Nothing to save (the text already was that version) or concurrent typing got in between: record it explicitly.
      if (!rec || rec.version === newestBefore || rec.sha256 !== sha256(text)) {
        rec = await this.record(doc.path, text, source, { label, force: true });
      }
      if (!rec) throw new IcpyError('INTERNAL_ERROR', 'the restored version could not be recorded');
      return { path: doc.path, version: rec.version, restoredFrom: version, fileVersion: saved.fileVersion };
    } finally {
      this.docs.release(doc.path, caller.id);
    }
  }

  /**
   * Name the current text (saved first when the live document has unsaved edits). The newest
   * version is named when it already holds that text and has no name; otherwise a new version is
   * recorded with the name.
   */
  async checkpoint(input: string, name: string, source: EventSource): Promise<VersionInfo> {
    const path = this.opts.normalizePath(input);
    const first = await this.docs.get(path);
    if (first.dirty) await this.docs.save(first.path, { source });
    const cur = first.dirty ? await this.docs.get(first.path) : first;
    return this.serial(cur.path, async () => {
      const latest = this.versions.latest(cur.path);
      if (latest && latest.name === undefined && latest.sha256 === sha256(cur.text)) return this.versions.setName(cur.path, latest.version, name)!;
      return this.versions.add({ path: cur.path, time: Date.now(), author: source, text: cur.text, sha256: sha256(cur.text), name }, this.opts.retention);
    });
  }

  /** Stops listening, then waits for the recordings under way (a last save at shutdown is kept). */
  async dispose(): Promise<void> {
    await this.store.dispose();
    await Promise.all([...this.pending.values()]);
    this.disposed = true;
  }

  private serial<T>(path: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.pending.get(path) ?? Promise.resolve()).then(fn, fn);
    const tail = run.catch(() => undefined);
    this.pending.set(path, tail);
    void tail.then(() => {
      if (this.pending.get(path) === tail) this.pending.delete(path);
    });
    return run;
  }

  private need(path: string, version: number): VersionInfo {
    const info = this.versions.get(path, version);
    if (!info) throw notFound(path, version);
    return info;
  }

  private async textOf(path: string, v: number | 'current'): Promise<string> {
    if (v === 'current') return (await this.docs.get(path)).text;
    this.need(path, v);
    const text = await this.versions.content(path, v);
    if (text === undefined) throw notFound(path, v);
    return text;
  }
}

function notFound(path: string, version: number): IcpyError {
  return new IcpyError('VERSION_NOT_FOUND', `'${path}' has no version ${version} (docs.history lists the versions kept)`, { path, version });
}
