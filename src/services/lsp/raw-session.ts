import type { InitializeResult } from 'vscode-languageserver-protocol';
import type { EventSource } from '../../core/broker/index.js';
import { IcpyError, toWireError } from '../../core/errors.js';
import type { Disposable } from '../../core/lifecycle.js';
import { describeError, type Logger } from '../../core/logger.js';
import type { LspChannel, LspHosts, LspPeer } from '../../core/lsp.js';
import { hasScope } from '../../core/principal.js';
import type { ConnectionInfo } from '../../core/rpc/index.js';
import { applyContentChanges, RawChangeError, singleEdit, type RawEdit } from './raw-text.js';

/** What a raw session needs of the shared server (a subset of LanguageServer). */
export interface RawServer {
  readonly languageId: string;
  ready(): Promise<void>;
  initializeResult(): InitializeResult;
  request<R>(method: string, params: unknown, opts?: { signal?: AbortSignal; timeoutMs?: number }): Promise<R>;
  onNotification(handler: (method: string, params: unknown) => void): Disposable;
}

/**
 * The live documents as a raw client reaches them. A raw client never talks to the server about
 * documents: what it opens and types goes into the live documents, and the document-sync layer
 * tells the server what they become (so raw clients, Yjs peers and lsp.* callers agree).
 */
export interface RawLiveDoc {
  text(): string;
  version(): number;
  /** Called after every change to the text, whatever its origin. */
  onChange(cb: () => void): Disposable;
}

export interface RawDocs {
  /** Hold the live document of a workspace path for this connection; its text and version now. */
  open(path: string, holder: ConnectionInfo): Promise<{ text: string; version: number; live?: RawLiveDoc }>;
  /** Drop one hold of `open`. */
  release(path: string, holderId: string): void;
  replaceText(path: string, text: string, source: EventSource): Promise<{ version: number }>;
  applyEdits(path: string, edits: readonly RawEdit[], opts: { baseVersion?: number; source: EventSource }): Promise<{ version: number }>;
}

export interface RawSessionDeps {
  docs: RawDocs;
  /** Workspace-relative path of a `file:` URI inside the workspace (undefined otherwise). */
  pathOf(uri: string): string | undefined;
  /** The URI the server knows a workspace path by. */
  uriOf(path: string): string;
  /** The last diagnostics the server published for a path (sent to a client that opens it). */
  diagnosticsOf?(path: string): { version?: number; diagnostics: unknown[] } | undefined;
  /** Requests one client may have waiting for an answer (config.lsp.maxInflightPerClient). */
  maxInflight: number;
  logger: Logger;
}

export interface RawHostsDeps extends RawSessionDeps {
  /** The shared server of a language, started on demand (NOT_FOUND / LSP_SERVER_UNAVAILABLE). */
  serverFor(languageId: string): RawServer | Promise<RawServer>;
}

/** JSON-RPC / LSP error codes a raw client may receive besides icpy's own. */
export const RawCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  ServerNotInitialized: -32002,
  RequestCancelled: -32800,
} as const;

/** Document notifications one client may have waiting to be applied before it is closed (4429). */
const MAX_QUEUED_DOC_OPS = 1024;
/** Live version → client version pairs kept per document (to translate publishDiagnostics.version). */
const VERSION_PAIRS = 64;
/** workspace/applyEdit requests one client may have unanswered (one per document at most). */
const MAX_PENDING_PUSHES = 64;
/** Others' changes to one document within this long reach the client as one workspace/applyEdit. */
const PUSH_COALESCE_MS = 20;
/** Prefix of icpy's own request ids towards a raw client (never a number, so no clash with its ids' answers). */
const PUSH_ID_PREFIX = 'icpy-';

type Id = number | string;

interface RawDoc {
  /** The URI the client uses for this document (diagnostics are sent back under it). */
  uri: string;
  /** The text as the client sees it. */
  text: string;
  /** Live version the next client change is based on. */
  base: number;
  versions: Map<number, number>;
  /** The client's version of `text` (the one a workspace/applyEdit is addressed to). */
  clientVersion: number;
  live?: RawLiveDoc;
  watch?: Disposable;
  timer?: ReturnType<typeof setTimeout>;
  /** A workspace/applyEdit sent and not yet echoed by the client's didChange. */
  push?: Push;
}

interface Push {
  id: string;
  /** The text the client has once it applied the edit, and the live version it equals. */
  text: string;
  liveVersion: number;
  /** The client version the edit was addressed to. */
  clientVersion: number;
  /** The client said applied: true (a didChange that is not the echo then ends the wait). */
  answered: boolean;
}

/** Multiplexes raw LSP clients onto the shared server of their language. */
export class RawLspHosts implements LspHosts {
  constructor(private readonly deps: RawHostsDeps) {}

  async attach(languageId: string, peer: LspPeer): Promise<LspChannel> {
    const server = await this.deps.serverFor(languageId);
    await server.ready();
    return new RawSession(server, peer, this.deps);
  }
}

/**
 * One raw client of a shared server. `initialize`, `initialized`, `shutdown` and `exit` are
 * handled here (the shared server was initialized once, by icpy); other requests go to the server
 * under the server connection's own ids (the client's id is kept here, and `$/cancelRequest`
 * cancels the matching request); document notifications go to the live documents; the server's
 * diagnostics reach the clients that have that document open; others' changes to a document it
 * has open are pushed to it as workspace/applyEdit (when it declared workspace.applyEdit), and
 * its didChange echoing a push is not applied again. Messages are handled in order:
 * a request is sent only after every earlier document change reached the live document (and so
 * the server).
 */
export class RawSession implements LspChannel {
  private initialized = false;
  private shutDown = false;
  private closed = false;
  private readonly pending = new Map<string, AbortController>();
  private readonly cancelled = new Set<string>();
  private readonly docs = new Map<string, RawDoc>();
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;
  private readonly subscription: Disposable;
  private readonly source: EventSource;
  /** The client takes workspace/applyEdit (capabilities.workspace.applyEdit in initialize). */
  private canPush = false;
  private pushSeq = 0;
  private readonly pushes = new Map<string, string>(); // request id → path

  constructor(
    private readonly server: RawServer,
    private readonly peer: LspPeer,
    private readonly deps: RawSessionDeps,
  ) {
    const c = peer.connection;
    this.source = { connectionId: c.id, kind: c.kind, name: c.name };
    this.subscription = server.onNotification((method, params) => this.fromServer(method, params));
  }

  receive(message: unknown): void {
    if (this.closed) return;
    const msg = message as { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown } | null;
    if (!msg || typeof msg !== 'object' || Array.isArray(msg) || msg.jsonrpc !== '2.0') {
      return this.reply(null, { code: RawCode.InvalidRequest, message: 'Not a JSON-RPC 2.0 message (one message per frame; batches are not LSP)' });
    }
    const hasId = typeof msg.id === 'number' || typeof msg.id === 'string';
    if (typeof msg.method !== 'string') {
      // A response: only to icpy's own workspace/applyEdit pushes (server requests are icpy's to answer).
      if (hasId && ('result' in msg || 'error' in msg)) return this.onPushAnswer(msg.id as Id, msg as { result?: unknown; error?: unknown });
      return this.reply(hasId ? (msg.id as Id) : null, { code: RawCode.InvalidRequest, message: 'A message needs a method' });
    }
    if ('id' in msg && msg.id !== undefined) {
      if (!hasId) return this.reply(null, { code: RawCode.InvalidRequest, message: 'A request id is a number or a string' });
      this.onRequest(msg.id as Id, msg.method, msg.params);
    } else {
      this.onNotification(msg.method, msg.params);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.subscription.dispose();
    for (const ctl of this.pending.values()) ctl.abort();
    this.pending.clear();
    this.pushes.clear();
    for (const [path, entry] of this.docs) {
      this.unwatch(entry);
      this.release(path);
    }
    this.docs.clear();
  }

  private onRequest(id: Id, method: string, params: unknown): void {
    if (method === 'initialize') {
      if (this.initialized) return this.reply(id, { code: RawCode.InvalidRequest, message: 'initialize was already sent' });
      this.initialized = true;
      const caps = (params as { capabilities?: { workspace?: { applyEdit?: unknown } } } | null)?.capabilities;
      this.canPush = caps?.workspace?.applyEdit === true;
      return this.answer(id, () => initializeAnswer(this.server.initializeResult()));
    }
    if (!this.initialized) return this.reply(id, { code: RawCode.ServerNotInitialized, message: 'Send initialize first' });
    if (this.shutDown) return this.reply(id, { code: RawCode.InvalidRequest, message: 'The client asked to shut down' });
    if (method === 'shutdown') {
      // Only this client goes: the shared server keeps serving the others.
      this.shutDown = true;
      return this.answer(id, () => this.chain.then(() => null));
    }
    const key = idKey(id);
    if (this.pending.has(key)) return this.reply(id, { code: RawCode.InvalidRequest, message: `Request id ${JSON.stringify(id)} is already in flight` });
    if (this.pending.size >= this.deps.maxInflight) {
      const max = this.deps.maxInflight;
      return this.reply(id, toWireError(new IcpyError('LIMIT_EXCEEDED', `At most ${max} requests may wait for an answer per client`, { limit: 'maxInflightPerClient', max })));
    }
    const ctl = new AbortController();
    this.pending.set(key, ctl);
    const forwarded = this.withServerUris(params);
    this.answer(
      id,
      () => this.chain.then(() => (ctl.signal.aborted ? Promise.reject(cancelledError()) : this.server.request(method, forwarded, { signal: ctl.signal }))),
      () => {
        this.pending.delete(key);
        this.cancelled.delete(key);
      },
      key,
    );
  }

  private onNotification(method: string, params: unknown): void {
    if (method === 'exit') return this.peer.close(1000, 'exit');
    if (!this.initialized) return; // LSP: notifications before initialize are dropped
    const p = (params ?? {}) as Record<string, unknown>;
    switch (method) {
      case '$/cancelRequest': {
        const id = p.id;
        if (typeof id !== 'number' && typeof id !== 'string') return;
        const key = idKey(id);
        const ctl = this.pending.get(key);
        if (ctl) {
          this.cancelled.add(key);
          ctl.abort();
        }
        return;
      }
      case 'textDocument/didOpen':
        return this.enqueue(() => this.didOpen(p.textDocument));
      case 'textDocument/didChange':
        return this.enqueue(() => this.didChange(p.textDocument, p.contentChanges));
      case 'textDocument/didClose':
        return this.enqueue(async () => this.didClose(p.textDocument));
      default:
        // initialized, didSave (the live documents save themselves), workspace/didChange*
        // (configuration and watched files are icpy's), $/setTrace…: nothing the shared server
        // may be told by one client.
        return;
    }
  }

  /** Document notifications run one at a time, in order; requests queue behind them. */
  private enqueue(op: () => Promise<void>): void {
    if (++this.queued > MAX_QUEUED_DOC_OPS) {
      this.peer.close(4429, `More than ${MAX_QUEUED_DOC_OPS} document changes waiting`);
      return;
    }
    this.chain = this.chain.then(async () => {
      this.queued--;
      if (this.closed) return;
      try {
        await op();
      } catch (err) {
        this.reportDocError(err);
      }
    });
  }

  private async didOpen(td: unknown): Promise<void> {
    const doc = td as { uri?: unknown; text?: unknown; version?: unknown } | null;
    if (!doc || typeof doc.uri !== 'string' || typeof doc.text !== 'string') throw new RawChangeError('didOpen needs textDocument.uri and textDocument.text');
    const path = this.pathOf(doc.uri);
    const clientVersion = typeof doc.version === 'number' ? doc.version : 0;
    const known = this.docs.get(path);
    if (!known) {
      const live = await this.deps.docs.open(path, this.peer.connection);
      if (this.closed) return this.deps.docs.release(path, this.peer.connection.id);
      const fresh: RawDoc = { uri: doc.uri, text: live.text, base: live.version, versions: new Map([[live.version, clientVersion]]), clientVersion, live: live.live };
      if (this.canPush && live.live) fresh.watch = live.live.onChange(() => this.schedulePush(path));
      this.docs.set(path, fresh);
    }
    const entry = this.docs.get(path)!;
    entry.uri = doc.uri;
    entry.clientVersion = clientVersion;
    entry.push = undefined; // a new didOpen states the client's text afresh
    if (entry.text !== doc.text) {
      this.checkWrite();
      // The client is an editor showing this text: the live document becomes it.
      const { version } = await this.deps.docs.replaceText(path, doc.text, this.source);
      this.settle(entry, doc.text, version, clientVersion);
    }
    const last = this.deps.diagnosticsOf?.(path);
    if (last) this.sendDiagnostics(entry, { uri: entry.uri, version: last.version, diagnostics: last.diagnostics });
  }

  private async didChange(td: unknown, changes: unknown): Promise<void> {
    const doc = td as { uri?: unknown; version?: unknown } | null;
    if (!doc || typeof doc.uri !== 'string') throw new RawChangeError('didChange needs textDocument.uri');
    const path = this.pathOf(doc.uri);
    const entry = this.docs.get(path);
    if (!entry) throw new RawChangeError(`didChange for ${doc.uri}, which this client did not open`);
    const clientVersion = typeof doc.version === 'number' ? doc.version : undefined;
    if (clientVersion !== undefined) entry.clientVersion = clientVersion;
    const rest = this.takeEcho(path, entry, changes);
    const text = applyContentChanges(entry.text, rest);
    const edit = singleEdit(entry.text, text);
    if (!edit) {
      if (rest !== changes && clientVersion !== undefined) this.settle(entry, text, entry.base, clientVersion);
      return;
    }
    this.checkWrite();
    let version: number;
    try {
      // Rebased over whatever others changed since this client's last change reached the document.
      ({ version } = await this.deps.docs.applyEdits(path, [edit], { baseVersion: entry.base, source: this.source }));
    } catch (err) {
      if (!(err instanceof IcpyError) || err.code !== 'VERSION_CONFLICT') throw err;
      // Too old to rebase: the client's text wins, as an editor's would.
      ({ version } = await this.deps.docs.replaceText(path, text, this.source));
    }
    this.settle(entry, text, version, clientVersion);
  }

  private didClose(td: unknown): void {
    const doc = td as { uri?: unknown } | null;
    if (!doc || typeof doc.uri !== 'string') throw new RawChangeError('didClose needs textDocument.uri');
    const path = this.pathOf(doc.uri);
    const entry = this.docs.get(path);
    if (!entry) return;
    this.docs.delete(path);
    this.unwatch(entry);
    this.release(path);
  }

  private settle(entry: RawDoc, text: string, liveVersion: number, clientVersion: number | undefined): void {
    entry.text = text;
    entry.base = liveVersion;
    if (clientVersion === undefined) return;
    entry.versions.set(liveVersion, clientVersion);
    if (entry.versions.size > VERSION_PAIRS) entry.versions.delete(entry.versions.keys().next().value!);
  }

  /**
   * When the first changes of a didChange turn the client's copy into the text icpy pushed, they
   * are the client applying the push (already in the live document): the client's copy becomes
   * it, and only the changes after them are the client's own. Returns those.
   */
  private takeEcho(path: string, entry: RawDoc, changes: unknown): unknown {
    const push = entry.push;
    if (!push || !Array.isArray(changes)) return changes;
    let text = entry.text;
    for (let i = 0; i < changes.length; i++) {
      text = applyContentChanges(text, [changes[i]]);
      if (text === push.text) {
        entry.push = undefined;
        entry.text = push.text;
        entry.base = push.liveVersion;
        // Others may have changed it again meanwhile.
        this.schedulePush(path);
        return changes.slice(i + 1);
      }
    }
    // Not the echo: once the client said it applied the push, it never will be.
    if (push.answered) entry.push = undefined;
    return changes;
  }

  private schedulePush(path: string): void {
    const entry = this.docs.get(path);
    if (!entry || entry.timer || this.closed) return;
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      // In the document chain: the client's copy is settled for every change it sent before.
      this.chain = this.chain.then(() => {
        if (!this.closed && this.docs.get(path) === entry) this.push(path, entry);
      });
    }, PUSH_COALESCE_MS);
  }

  /** Tell the client what others made of a document it has open (workspace/applyEdit). */
  private push(path: string, entry: RawDoc): void {
    if (!entry.live || entry.push) return; // one at a time: the next is scheduled once it is settled
    const text = entry.live.text();
    const edit = singleEdit(entry.text, text);
    if (!edit) {
      entry.base = entry.live.version();
      return;
    }
    if (this.pushes.size >= MAX_PENDING_PUSHES) {
      this.deps.logger.debug('lsp raw: too many unanswered workspace/applyEdit; not pushing', { connection: this.peer.connection.id, path });
      return;
    }
    const id = `${PUSH_ID_PREFIX}${++this.pushSeq}`;
    entry.push = { id, text, liveVersion: entry.live.version(), clientVersion: entry.clientVersion, answered: false };
    this.pushes.set(id, path);
    this.send({
      jsonrpc: '2.0',
      id,
      method: 'workspace/applyEdit',
      params: { label: 'icpy: changes by others', edit: { documentChanges: [{ textDocument: { uri: entry.uri, version: entry.clientVersion }, edits: [{ range: edit.range, newText: edit.text }] }] } },
    });
  }

  private onPushAnswer(id: Id, msg: { result?: unknown; error?: unknown }): void {
    const path = typeof id === 'string' ? this.pushes.get(id) : undefined;
    if (path === undefined) return; // not ours (or the document was closed meanwhile): dropped
    this.pushes.delete(id as string);
    const entry = this.docs.get(path);
    if (!entry || entry.push?.id !== id) return;
    const applied = (msg.result as { applied?: unknown } | undefined)?.applied === true;
    if (applied) {
      entry.push.answered = true;
      return;
    }
    // Refused (the client's version moved on, or it cannot): its buffer stays as it is and its
    // changes keep being rebased; a later change by others tries again.
    const stale = entry.push.clientVersion !== entry.clientVersion;
    entry.push = undefined;
    this.deps.logger.debug('lsp raw: workspace/applyEdit not applied', { connection: this.peer.connection.id, path, error: msg.error, result: msg.result });
    // Addressed to a version the client had moved past: once more, to the version it has now.
    if (stale) this.schedulePush(path);
  }

  private unwatch(entry: RawDoc): void {
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = undefined;
    void entry.watch?.dispose();
    entry.watch = undefined;
    if (entry.push) this.pushes.delete(entry.push.id);
    entry.push = undefined;
  }

  private checkWrite(): void {
    // Per client, from its principal: the owner on a --read-only server, or a credential without write.
    const p = this.peer.principal;
    if (hasScope(p, 'write')) return;
    if (p.kind === 'owner') throw new IcpyError('FORBIDDEN', 'This server is read-only: document edits are not accepted');
    throw new IcpyError('FORBIDDEN', `${p.name} has no 'write' scope: document edits are not accepted (it may read, ask for diagnostics, hovers, completions)`, {
      reason: 'scope',
      scope: 'write',
    });
  }

  private pathOf(uri: string): string {
    const path = this.deps.pathOf(uri);
    if (path === undefined) throw new RawChangeError(`${uri} is not a file in the workspace`);
    return path;
  }

  private release(path: string): void {
    try {
      this.deps.docs.release(path, this.peer.connection.id);
    } catch (err) {
      this.deps.logger.error('lsp raw: releasing a document failed', { path, ...describeError(err) });
    }
  }

  /** A document notification has no answer: the client hears of a failure as a window/showMessage. */
  private reportDocError(err: unknown): void {
    if (err instanceof RawChangeError || err instanceof IcpyError) {
      this.deps.logger.debug('lsp raw: document notification refused', { connection: this.peer.connection.id, message: err.message });
      this.send({ jsonrpc: '2.0', method: 'window/showMessage', params: { type: 1, message: `icpy: ${err.message}` } });
      return;
    }
    this.deps.logger.error('lsp raw: document notification failed', { connection: this.peer.connection.id, ...describeError(err) });
    this.send({ jsonrpc: '2.0', method: 'window/showMessage', params: { type: 1, message: 'icpy: internal error applying a document change' } });
  }

  /** Client URIs of documents it opened are swapped for the server's spelling of the same file. */
  private withServerUris(params: unknown): unknown {
    const p = params as { textDocument?: { uri?: unknown } } | null;
    const uri = p?.textDocument?.uri;
    if (typeof uri !== 'string') return params;
    const path = this.deps.pathOf(uri);
    if (path === undefined) return params;
    const serverUri = this.deps.uriOf(path);
    return serverUri === uri ? params : { ...p, textDocument: { ...p!.textDocument, uri: serverUri } };
  }

  private fromServer(method: string, params: unknown): void {
    if (this.closed) return;
    if (method === 'textDocument/publishDiagnostics') {
      const p = params as { uri?: unknown; version?: unknown; diagnostics?: unknown } | null;
      if (!p || typeof p.uri !== 'string') return;
      const path = this.deps.pathOf(p.uri);
      const entry = path === undefined ? undefined : this.docs.get(path);
      // Only to clients that have the document open, as an editor expects.
      if (entry) this.sendDiagnostics(entry, { ...p, uri: entry.uri } as { uri: string; version?: unknown; diagnostics: unknown });
      return;
    }
    if (method === 'window/logMessage' || method === 'window/showMessage') this.send({ jsonrpc: '2.0', method, params });
    // $/progress, telemetry/event…: tied to requests icpy made (window/workDoneProgress/create) — not forwarded.
  }

  private sendDiagnostics(entry: RawDoc, p: { uri: string; version?: unknown; diagnostics: unknown }): void {
    const { version, ...rest } = p;
    // The server numbers versions as the live document; the client knows its own numbers.
    const clientVersion = typeof version === 'number' ? entry.versions.get(version) : undefined;
    const params = clientVersion === undefined ? rest : { ...rest, version: clientVersion };
    this.send({ jsonrpc: '2.0', method: 'textDocument/publishDiagnostics', params });
  }

  private answer(id: Id, run: () => unknown, done?: () => void, key?: string): void {
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(run());
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (value) => {
        done?.();
        this.reply(id, undefined, value ?? null);
      },
      (err: unknown) => {
        const wasCancelled = key !== undefined && this.cancelled.has(key);
        done?.();
        if (wasCancelled) return this.reply(id, { code: RawCode.RequestCancelled, message: 'Request cancelled' });
        this.reply(id, this.wireError(err));
      },
    );
  }

  private wireError(err: unknown): { code: number; message: string; data?: unknown } {
    if (err instanceof IcpyError) {
      // The server's own error passes through with its code (a client may rely on -32801
      // ContentModified, -32803 RequestFailed…).
      const d = err.data as { code?: unknown; message?: unknown } | undefined;
      if (err.code === 'LSP_SERVER_ERROR' && typeof d?.code === 'number') return { code: d.code, message: typeof d.message === 'string' ? d.message : err.message };
      return toWireError(err);
    }
    this.deps.logger.error('lsp raw: a request failed', { connection: this.peer.connection.id, ...describeError(err) });
    return toWireError(err);
  }

  private reply(id: Id | null, error?: { code: number; message: string; data?: unknown }, result?: unknown): void {
    if (error) this.send({ jsonrpc: '2.0', id, error });
    else this.send({ jsonrpc: '2.0', id, result });
  }

  private send(message: object): void {
    if (!this.closed) this.peer.send(message);
  }
}

function idKey(id: Id): string {
  return typeof id === 'number' ? `n${id}` : `s${id}`;
}

function cancelledError(): IcpyError {
  return new IcpyError('UNAVAILABLE', 'The request was cancelled');
}

/**
 * The shared server's InitializeResult, with document sync as icpy takes it from raw clients
 * (open/close and incremental changes, which icpy applies to the live documents; saves are the
 * live documents' own).
 */
export function initializeAnswer(shared: InitializeResult): InitializeResult {
  return {
    ...shared,
    capabilities: { ...shared.capabilities, textDocumentSync: { openClose: true, change: 2 } },
  };
}
