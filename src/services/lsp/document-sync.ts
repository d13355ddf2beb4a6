import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DisposableStore, type Disposable } from '../../core/lifecycle.js';
import { describeError, type Logger } from '../../core/logger.js';
import type { LanguageServer } from './language-server.js';
import type { LspDocs, LspLiveText, TextDeltaOp } from './lsp-docs.js';
import type { ServerTable } from './servers.js';

/** A document the server has (or will have again after a restart). */
interface SyncedDoc {
  path: string;
  uri: string;
  languageId: string;
  /** The text exactly as the server has it (incremental changes are computed against it). */
  text: string;
  version: number;
  /** Set when the live document drives it; unset for a file opened from disk for a request. */
  live?: LspLiveText;
  sub?: Disposable;
  lastUsed: number;
}

/** Files opened from disk for a request stay open this long after their last use. */
const DISK_IDLE_MS = 60_000;
/** …and at most this many per server (the least recently used is closed first). */
const MAX_DISK_DOCS = 64;

/**
 * What one language server sees: every live document of its languages (didOpen with the live
 * text, an incremental didChange per Y.Text change with ranges in UTF-16 and the live version,
 * didClose on unload, didSave), plus files opened from disk for a request (closed when idle,
 * didChange with the full text when the disk changes). After a restart everything is opened again.
 */
export class DocumentSync implements Disposable {
  private readonly docs = new Map<string, SyncedDoc>();
  private readonly store = new DisposableStore();
  private readonly sweep: NodeJS.Timeout;
  private diskVersion = 0;

  constructor(
    private readonly server: LanguageServer,
    private readonly table: ServerTable,
    private readonly port: LspDocs,
    private readonly logger: Logger,
  ) {
    this.store.add(port.onOpened((d) => this.liveOpened(d)));
    this.store.add(port.onClosed((p) => this.liveClosed(p)));
    this.store.add(port.onSaved((p) => this.saved(p)));
    this.store.add(port.onDiskChanged((ps) => void this.diskChanged(ps)));
    // Every start (the first too): documents registered while it was not running are opened now.
    this.store.add(server.onStarted(() => this.reopenAll()));
    this.sweep = setInterval(() => this.closeIdle(), DISK_IDLE_MS / 4);
    this.sweep.unref();
    for (const d of port.allLive()) this.liveOpened(d);
  }

  uriOf(path: string): string {
    return pathToFileURL(join(this.port.realRoot, path)).href;
  }

  /** The document as the server has it now: opened from disk first when it is not live. */
  async ensureOpen(path: string): Promise<{ uri: string; text: string; version: number; live: boolean }> {
    let d = this.docs.get(path);
    if (!d) {
      const live = this.port.live(path);
      if (live) this.liveOpened(live);
      else {
        const text = await this.port.readDisk(path);
        d = this.docs.get(path); // opened meanwhile
        if (!d) this.open({ path, text, version: ++this.diskVersion });
      }
      d = this.docs.get(path);
    }
    if (!d) throw new Error(`document-sync: ${path} is not served by ${this.server.languageId}`);
    d.lastUsed = Date.now();
    return { uri: d.uri, text: d.text, version: d.version, live: d.live !== undefined };
  }

  has(path: string): boolean {
    return this.docs.has(path);
  }

  dispose(): void {
    clearInterval(this.sweep);
    void this.store.dispose();
    for (const d of this.docs.values()) d.sub?.dispose();
    this.docs.clear();
  }

  private serves(path: string): string | undefined {
    const hit = this.table.forPath(path);
    return hit && hit.spec.id === this.server.spec.id ? hit.languageId : undefined;
  }

  private open(o: { path: string; text: string; version: number; live?: LspLiveText }): void {
    const languageId = this.serves(o.path);
    if (!languageId) return;
    const d: SyncedDoc = { path: o.path, uri: this.uriOf(o.path), languageId, text: o.text, version: o.version, live: o.live, lastUsed: Date.now() };
    this.docs.set(o.path, d);
    if (o.live) d.sub = o.live.onChange((delta, version) => this.liveChanged(d, delta, version));
    this.sendOpen(d);
    if (!o.live) this.evictDisk();
  }

  private sendOpen(d: SyncedDoc): void {
    this.server.notify('textDocument/didOpen', { textDocument: { uri: d.uri, languageId: d.languageId, version: d.version, text: d.text } });
  }

  private close(d: SyncedDoc): void {
    d.sub?.dispose();
    this.docs.delete(d.path);
    this.server.notify('textDocument/didClose', { textDocument: { uri: d.uri } });
  }

  private liveOpened(live: LspLiveText): void {
    if (!this.serves(live.path)) return;
    const had = this.docs.get(live.path);
    if (had?.live === live) return;
    if (had) this.close(had); // was opened from disk (or a previous load): the live text replaces it
    this.open({ path: live.path, text: live.text(), version: live.version(), live });
  }

  private liveClosed(path: string): void {
    const d = this.docs.get(path);
    if (d?.live) this.close(d);
  }

  private liveChanged(d: SyncedDoc, delta: readonly TextDeltaOp[], version: number): void {
    if (this.docs.get(d.path) !== d) return;
    const changes = incrementalChanges(d.text, delta);
    d.text = changes.text;
    d.version = version;
    d.lastUsed = Date.now();
    if (changes.changes.length) {
      this.server.notify('textDocument/didChange', { textDocument: { uri: d.uri, version }, contentChanges: changes.changes });
    }
  }

  private saved(path: string): void {
    const d = this.docs.get(path);
    if (d) this.server.notify('textDocument/didSave', { textDocument: { uri: d.uri } });
  }

  private async diskChanged(paths: readonly string[]): Promise<void> {
    for (const p of paths) {
      const d = this.docs.get(p);
      if (!d || d.live) continue;
      let text: string;
      try {
        text = await this.port.readDisk(p);
      } catch {
        // deleted or no longer text: the server forgets it
        if (this.docs.get(p) === d) this.close(d);
        continue;
      }
      if (this.docs.get(p) !== d || text === d.text) continue;
      d.text = text;
      d.version = ++this.diskVersion;
      this.server.notify('textDocument/didChange', { textDocument: { uri: d.uri, version: d.version }, contentChanges: [{ text }] });
    }
  }

  private reopenAll(): void {
    for (const d of this.docs.values()) {
      if (d.live) {
        d.text = d.live.text();
        d.version = d.live.version();
      }
      this.sendOpen(d);
    }
    this.logger.debug('lsp: documents re-opened after a (re)start', { language: this.server.languageId, docs: this.docs.size });
  }

  private evictDisk(): void {
    const disk = [...this.docs.values()].filter((d) => !d.live).sort((a, b) => a.lastUsed - b.lastUsed);
    for (let i = 0; i < disk.length - MAX_DISK_DOCS; i++) this.close(disk[i]!);
  }

  private closeIdle(): void {
    const cutoff = Date.now() - DISK_IDLE_MS;
    for (const d of [...this.docs.values()]) {
      if (!d.live && d.lastUsed < cutoff) {
        try {
          this.close(d);
        } catch (err) {
          this.logger.error('lsp: closing an idle document failed', { path: d.path, ...describeError(err) });
        }
      }
    }
  }
}

/** The LSP position of a UTF-16 offset: `\n`, `\r\n` and a lone `\r` end a line. */
function positionIn(text: string, target: number, from: { offset: number; line: number; character: number } = { offset: 0, line: 0, character: 0 }): Pos & { offset: number } {
  let { line, character } = from;
  for (let i = from.offset; i < target; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) {
      line++;
      character = 0;
    } else character++;
  }
  return { offset: target, line, character };
}

/**
 * LSP incremental changes for a Y.Text delta against `text`. Each change is applied by the server
 * to the result of the previous one, so positions are computed on the text as it is being
 * changed (UTF-16, as Y.Text counts).
 */
export function incrementalChanges(text: string, delta: readonly TextDeltaOp[]): { text: string; changes: { range: Range; text: string }[] } {
  const changes: { range: Range; text: string }[] = [];
  let offset = 0;
  let cur = text;
  for (const op of delta) {
    if ('retain' in op) offset += op.retain;
    else if ('delete' in op) {
      const start = positionIn(cur, offset);
      const end = positionIn(cur, Math.min(cur.length, offset + op.delete), start);
      changes.push({ range: { start: { line: start.line, character: start.character }, end: { line: end.line, character: end.character } }, text: '' });
      cur = cur.slice(0, offset) + cur.slice(offset + op.delete);
    } else {
      const s = typeof op.insert === 'string' ? op.insert : '\ufffc';
      const at = positionIn(cur, offset);
      changes.push({ range: { start: { line: at.line, character: at.character }, end: { line: at.line, character: at.character } }, text: s });
      cur = cur.slice(0, offset) + s + cur.slice(offset);
      offset += s.length;
    }
  }
  return { text: cur, changes };
}

interface Pos {
  line: number;
  character: number;
}
interface Range {
  start: Pos;
  end: Pos;
}
