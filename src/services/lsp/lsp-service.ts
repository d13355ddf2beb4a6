import { isAbsolute, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SYSTEM_SOURCE, type EventSource } from '../../core/broker/index.js';
import { IcpyError } from '../../core/errors.js';
import type { Disposable } from '../../core/lifecycle.js';
import { describeError, type Logger } from '../../core/logger.js';
import { DocumentSync } from './document-sync.js';
import { LanguageServer } from './language-server.js';
import type { LspDocs, LspTextEdit } from './lsp-docs.js';
import type { ServerTable } from './servers.js';

export interface LspServiceOptions {
  table: ServerTable;
  docs: LspDocs;
  logger: Logger;
  idleTimeoutMs: number;
  requestTimeoutMs: number;
  maxInflightPerClient: number;
  maxRestartsPerMinute: number;
  /** Publish an event (lsp.diagnostics.published). */
  publish: (topic: string, data: unknown, source: EventSource) => void;
  env?: NodeJS.ProcessEnv;
}

export interface Diagnostic {
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  message: string;
  severity?: number;
  code?: string | number;
  source?: string;
  [k: string]: unknown;
}

export interface DiagnosticsEntry {
  path: string;
  version?: number;
  diagnostics: Diagnostic[];
}

interface Managed {
  server: LanguageServer;
  sync: DocumentSync;
  sub: Disposable;
}

/** Diagnostics kept for at most this many files (the oldest publish is forgotten first). */
const MAX_DIAGNOSTIC_FILES = 4096;

/**
 * Language intelligence: one managed server per configured language (started on demand and
 * shared by every client), the documents it sees, the diagnostics it publishes, and the
 * per-client bound on requests in flight.
 */
export class LspService implements Disposable {
  private readonly managed = new Map<string, Managed>();
  private readonly diagnostics = new Map<string, DiagnosticsEntry>();
  private readonly diagnosticWaiters = new Map<string, Set<() => void>>();
  private readonly inflight = new Map<string, number>();
  private disposed = false;

  constructor(private readonly opts: LspServiceOptions) {}

  get requestTimeoutMs(): number {
    return this.opts.requestTimeoutMs;
  }

  get table(): ServerTable {
    return this.opts.table;
  }

  /** The LSP language id of a path, by its extension (undefined when no server serves it). */
  languageOf(path: string): string | undefined {
    return this.opts.table.forPath(path)?.languageId;
  }

  /** The server for a language id (started on demand, shared): NOT_FOUND when none is configured. */
  async serverFor(languageId: string): Promise<LanguageServer> {
    const m = this.managedFor(languageId);
    await m.server.ready();
    return m.server;
  }

  /** The file URI a server knows a workspace path by (raw clients use the same). */
  uriOf(path: string): string {
    return pathToFileURL(join(this.opts.docs.realRoot, path)).href;
  }

  /**
   * The workspace path of a file URI, or undefined when it is outside the workspace (a library).
   * The root may be spelled with symlinks followed (as servers are told) or as configured.
   */
  pathOf(uri: string): string | undefined {
    if (!uri.startsWith('file:')) return undefined;
    let abs: string;
    try {
      abs = fileURLToPath(uri);
    } catch {
      return undefined;
    }
    const { realRoot, configuredRoot } = this.opts.docs;
    for (const root of configuredRoot && configuredRoot !== realRoot ? [realRoot, configuredRoot] : [realRoot]) {
      const rel = relative(root, abs);
      if (rel && !rel.startsWith('..') && !isAbsolute(rel)) return rel.split(sep).join('/');
    }
    return undefined;
  }

  /**
   * Run one request of `clientId` (a connection id) within its in-flight bound:
   * `maxInflightPerClient` at once, one more → LIMIT_EXCEEDED.
   */
  async withClient<T>(clientId: string, fn: () => Promise<T>): Promise<T> {
    const n = this.inflight.get(clientId) ?? 0;
    const max = this.opts.maxInflightPerClient;
    if (n >= max) {
      throw new IcpyError('LIMIT_EXCEEDED', `${n} language-server requests of this client are in flight already (maxInflightPerClient = ${max})`, { limit: 'maxInflightPerClient', max });
    }
    this.inflight.set(clientId, n + 1);
    try {
      return await fn();
    } finally {
      const left = (this.inflight.get(clientId) ?? 1) - 1;
      if (left > 0) this.inflight.set(clientId, left);
      else this.inflight.delete(clientId);
    }
  }

  /**
   * A request about one document: resolves the path, starts its server, opens the document on it
   * (from disk when it is not live) and checks the position's line against the text.
   */
  async onDocument<R>(
    rawPath: string,
    opts: { clientId: string; positions?: { value: Position; field: string }[] },
    fn: (doc: { path: string; uri: string; version: number; live: boolean; server: LanguageServer; positions: Position[] }) => Promise<R>,
  ): Promise<R> {
    return this.withClient(opts.clientId, async () => {
      const path = await this.opts.docs.resolve(rawPath, 'path');
      const hit = this.opts.table.forPath(path);
      if (!hit) {
        throw new IcpyError('INVALID_PARAMS', `No language server is configured for '${path}' (by its extension)`, { field: 'path', path });
      }
      const m = this.managedFor(hit.spec.id);
      await m.server.ready();
      const doc = await m.sync.ensureOpen(path);
      const positions = (opts.positions ?? []).map((p) => clampPosition(doc.text, p.value, p.field, path));
      return fn({ path, uri: doc.uri, version: doc.version, live: doc.live, server: m.server, positions });
    });
  }

  /** The diagnostics last published for a path (empty when none yet). */
  diagnosticsOf(path: string): DiagnosticsEntry | undefined {
    return this.diagnostics.get(path);
  }

  /** Every file's last published diagnostics, sorted by path. */
  allDiagnostics(): DiagnosticsEntry[] {
    return [...this.diagnostics.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /** Resolves when diagnostics for `path` are published (or after `ms`). */
  waitForDiagnostics(path: string, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let set = this.diagnosticWaiters.get(path);
      if (!set) this.diagnosticWaiters.set(path, (set = new Set()));
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        set!.delete(done);
        if (!set!.size) this.diagnosticWaiters.delete(path);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      set.add(done);
    });
  }

  /** Servers configured and their state. */
  status(): { languageId: string; languageIds: string[]; state: string; pid?: number; restarts: number; error?: string }[] {
    return this.opts.table.specs.map((spec) => {
      const m = this.managed.get(spec.id);
      const s = m?.server.status;
      return {
        languageId: spec.id,
        languageIds: spec.languageIds,
        state: s?.state ?? 'stopped',
        ...(s?.pid !== undefined ? { pid: s.pid } : {}),
        restarts: s?.restarts ?? 0,
        ...(s?.error ? { error: s.error } : {}),
      };
    });
  }

  /** Every running server (for workspace-wide requests). */
  running(): LanguageServer[] {
    return [...this.managed.values()].filter((m) => m.server.isReady).map((m) => m.server);
  }

  /** Apply a WorkspaceEdit through the live documents, attributed to `source`. */
  async applyWorkspaceEdit(edit: unknown, source: EventSource): Promise<{ path: string; edits: number }[]> {
    const changes = this.workspaceEditChanges(edit);
    const out: { path: string; edits: number }[] = [];
    for (const c of changes) {
      if (!c.path) throw new IcpyError('INVALID_PARAMS', `The edit changes '${c.uri}', outside the workspace: not applied`, { field: 'edit', uri: c.uri });
    }
    for (const c of changes) {
      if (!c.edits.length) continue;
      const base = c.version !== undefined && c.version !== null ? this.liveBaseVersion(c.path!, c.version) : undefined;
      await this.opts.docs.applyEdits(c.path!, c.edits, { ...(base !== undefined ? { baseVersion: base } : {}), source });
      out.push({ path: c.path!, edits: c.edits.length });
    }
    return out;
  }

  /** A WorkspaceEdit (changes or documentChanges) as per-file edits with workspace paths. */
  workspaceEditChanges(edit: unknown): { path?: string; uri: string; version?: number | null; edits: LspTextEdit[] }[] {
    const out: { path?: string; uri: string; version?: number | null; edits: LspTextEdit[] }[] = [];
    const e = (edit ?? {}) as { changes?: Record<string, { range: LspTextEdit['range']; newText: string }[]>; documentChanges?: unknown[] };
    const toEdits = (xs: { range: LspTextEdit['range']; newText: string }[] | undefined) => (xs ?? []).map((x) => ({ range: x.range, text: x.newText }));
    if (Array.isArray(e.documentChanges)) {
      for (const dc of e.documentChanges) {
        const d = dc as { textDocument?: { uri: string; version?: number | null }; edits?: { range: LspTextEdit['range']; newText: string }[]; kind?: string };
        if (d.kind) continue; // create / rename / delete: resource operations are not applied
        if (!d.textDocument) continue;
        const path = this.pathOf(d.textDocument.uri);
        out.push({ ...(path ? { path } : {}), uri: d.textDocument.uri, version: d.textDocument.version, edits: toEdits(d.edits) });
      }
    } else if (e.changes && typeof e.changes === 'object') {
      for (const [uri, xs] of Object.entries(e.changes)) {
        const path = this.pathOf(uri);
        out.push({ ...(path ? { path } : {}), uri, edits: toEdits(xs) });
      }
    }
    return out;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const all = [...this.managed.values()];
    this.managed.clear();
    for (const set of this.diagnosticWaiters.values()) for (const w of [...set]) w();
    await Promise.all(
      all.map(async (m) => {
        m.sub.dispose();
        m.sync.dispose();
        await m.server.dispose();
      }),
    );
  }

  private liveBaseVersion(path: string, version: number): number | undefined {
    // The server's version of a live document is the live version; a disk one is private.
    const live = this.opts.docs.live(path);
    return live && version <= live.version() ? version : undefined;
  }

  private managedFor(languageId: string): Managed {
    if (this.disposed) throw new IcpyError('LSP_SERVER_UNAVAILABLE', 'The language service is shutting down', { language: languageId });
    const spec = this.opts.table.forLanguage(languageId);
    if (!spec) {
      throw new IcpyError('NOT_FOUND', `No language server is configured for the language '${languageId}'`, { language: languageId, languages: this.opts.table.specs.flatMap((s) => s.languageIds) });
    }
    let m = this.managed.get(spec.id);
    if (m) return m;
    const server = new LanguageServer(spec, {
      root: this.opts.docs.realRoot,
      logger: this.opts.logger,
      requestTimeoutMs: this.opts.requestTimeoutMs,
      idleTimeoutMs: this.opts.idleTimeoutMs,
      maxRestartsPerMinute: this.opts.maxRestartsPerMinute,
      env: this.opts.env,
      applyEdit: async (edit) => {
        await this.applyWorkspaceEdit(edit, { connectionId: `lsp:${spec.id}`, kind: 'system', name: `${spec.id} language server` });
        return { applied: true };
      },
    });
    const sub = server.onNotification((method, params) => {
      if (method === 'textDocument/publishDiagnostics') this.published(params);
    });
    const sync = new DocumentSync(server, this.opts.table, this.opts.docs, this.opts.logger);
    m = { server, sync, sub };
    this.managed.set(spec.id, m);
    return m;
  }

  /** A server published diagnostics: kept, and sent to subscribers at once. */
  private published(params: unknown): void {
    try {
      const p = params as { uri?: string; version?: number; diagnostics?: Diagnostic[] };
      if (typeof p?.uri !== 'string' || !Array.isArray(p.diagnostics)) return;
      const path = this.pathOf(p.uri);
      if (path === undefined) return;
      const entry: DiagnosticsEntry = { path, ...(typeof p.version === 'number' ? { version: p.version } : {}), diagnostics: p.diagnostics };
      this.diagnostics.delete(path);
      this.diagnostics.set(path, entry);
      if (this.diagnostics.size > MAX_DIAGNOSTIC_FILES) this.diagnostics.delete(this.diagnostics.keys().next().value!);
      this.opts.publish('lsp.diagnostics.published', entry, SYSTEM_SOURCE);
      for (const w of [...(this.diagnosticWaiters.get(path) ?? [])]) w();
    } catch (err) {
      this.opts.logger.warn('lsp: diagnostics not published', describeError(err));
    }
  }
}

export interface Position {
  line: number;
  character: number;
}

/**
 * A client's position checked against the text the server has: a line past the last one is
 * INVALID_PARAMS naming the field; a character past the line's end means its end (LSP rule), so
 * no server sees an offset outside the document.
 */
function clampPosition(text: string, pos: Position, field: string, path: string): Position {
  let line = 0;
  let start = 0;
  let i = 0;
  for (; i < text.length && line < pos.line; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || c === 13) {
      if (c === 13 && text.charCodeAt(i + 1) === 10) i++;
      line++;
      start = i + 1;
    }
  }
  if (line < pos.line) {
    throw new IcpyError('INVALID_PARAMS', `${field}: line ${pos.line} is past the last line (${line}) of '${path}'`, { field: `${field}.line`, lines: line + 1 });
  }
  let end = start;
  while (end < text.length && text.charCodeAt(end) !== 10 && text.charCodeAt(end) !== 13) end++;
  return { line: pos.line, character: Math.min(pos.character, end - start) };
}
