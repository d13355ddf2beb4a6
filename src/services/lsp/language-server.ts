import { spawn, type ChildProcess } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import {
  CancellationTokenSource,
  ResponseError,
  createMessageConnection,
  type MessageConnection,
} from 'vscode-jsonrpc/node.js';
import { StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node.js';
import type { InitializeParams, InitializeResult } from 'vscode-languageserver-protocol';
import { IcpyError } from '../../core/errors.js';
import { toDisposable, type Disposable } from '../../core/lifecycle.js';
import { describeError, type Logger } from '../../core/logger.js';
import { liveGroupMembers } from '../process-tree.js';
import { resolveServerCommand, type ServerSpec } from './servers.js';

export type ServerState = 'stopped' | 'starting' | 'ready' | 'restarting' | 'failed';

export interface LanguageServerOptions {
  /** Workspace root, real path: the server's rootUri and working directory. */
  root: string;
  logger: Logger;
  requestTimeoutMs: number;
  /** Stop after this long (ms) with no request or notification; 0 = never. */
  idleTimeoutMs: number;
  maxRestartsPerMinute: number;
  /** `workspace/applyEdit` from the server: applied through the documents (never straight to disk). */
  applyEdit?: (edit: unknown) => Promise<{ applied: boolean; failureReason?: string }>;
  env?: NodeJS.ProcessEnv;
}

/** Backoff between crash restarts: 250 ms doubling, at most 5 s. */
const BACKOFF_MS = [250, 500, 1000, 2000, 5000];
/** How long shutdown/exit may take before the process group is killed. */
const STOP_GRACE_MS = 1500;
/** Bytes of a server's stderr kept for the error raised when it fails to start. */
const STDERR_TAIL = 4096;

/**
 * One language-server process (its own process group) speaking LSP over stdio through
 * vscode-jsonrpc. Started on the first `ready()`; a crash restarts it with backoff (at most
 * `maxRestartsPerMinute`, then `failed` until asked again) and fires `onRestarted`, so whoever
 * opened documents re-opens them; an idle server stops and starts again on the next use.
 * Server→client requests are answered here. `dispose()` sends shutdown/exit, then kills the group.
 */
export class LanguageServer implements Disposable {
  readonly languageId: string;
  private state: ServerState = 'stopped';
  private child: ChildProcess | undefined;
  private conn: MessageConnection | undefined;
  private init: InitializeResult | undefined;
  private starting: Promise<void> | undefined;
  private disposed = false;
  private generation = 0;
  private readonly crashes: number[] = [];
  private restartCount = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private lastUse = Date.now();
  /** Requests waiting for an answer: a server is never idle-stopped under one. */
  private inflight = 0;
  private lastError: IcpyError | undefined;
  private readonly notificationHandlers = new Set<(method: string, params: unknown) => void>();
  private readonly restartHandlers = new Set<() => void>();
  private readonly startHandlers = new Set<() => void>();
  private readonly exitWaiters = new Set<() => void>();
  private stderrTail = '';

  constructor(readonly spec: ServerSpec, private readonly opts: LanguageServerOptions) {
    this.languageId = spec.id;
  }

  get status(): { languageId: string; state: ServerState; pid: number | undefined; restarts: number; error?: string } {
    return { languageId: this.languageId, state: this.state, pid: this.state === 'ready' ? this.child?.pid : undefined, restarts: this.restartCount, error: this.lastError?.message };
  }

  /** Every process id this server has running right now (tests check none is left). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The server's answer to `initialize`. Only valid after `ready()` resolved. */
  initializeResult(): InitializeResult {
    if (!this.init) throw new IcpyError('LSP_SERVER_UNAVAILABLE', `The ${this.languageId} language server is not running`, { language: this.languageId });
    return this.init;
  }

  /** Resolves once the server is initialized (starting it when stopped or failed). */
  ready(): Promise<void> {
    if (this.disposed) return Promise.reject(new IcpyError('LSP_SERVER_UNAVAILABLE', `The ${this.languageId} language server is shutting down`, { language: this.languageId }));
    this.touch();
    if (this.state === 'ready') return Promise.resolve();
    if (this.starting) return this.starting;
    if (this.state === 'failed') this.crashes.length = 0; // asked again: try again
    const wasRestart = this.generation > 0;
    this.starting = this.start().then(
      () => {
        this.starting = undefined;
        // Before any caller of ready() goes on: documents are open on the server first.
        this.fire(this.startHandlers, 'start');
        if (wasRestart) this.fire(this.restartHandlers, 'restart');
      },
      (err: unknown) => {
        this.starting = undefined;
        throw err;
      },
    );
    return this.starting;
  }

  async request<R>(method: string, params: unknown, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<R> {
    await this.ready();
    const conn = this.conn!;
    const timeoutMs = opts.timeoutMs ?? this.opts.requestTimeoutMs;
    const cts = new CancellationTokenSource();
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const gen = this.generation;
    this.inflight++;
    try {
      return await new Promise<R>((resolve, reject) => {
        if (opts.signal?.aborted) return reject(new IcpyError('UNAVAILABLE', 'The request was cancelled'));
        onAbort = () => {
          cts.cancel();
          reject(new IcpyError('UNAVAILABLE', 'The request was cancelled'));
        };
        opts.signal?.addEventListener('abort', onAbort, { once: true });
        if (timeoutMs > 0) {
          timer = setTimeout(() => {
            cts.cancel();
            reject(new IcpyError('TIMEOUT', `The ${this.languageId} language server did not answer ${method} within ${timeoutMs} ms`, { language: this.languageId, method, timeoutMs }));
          }, timeoutMs);
        }
        const exitWaiter = () => reject(new IcpyError('LSP_SERVER_UNAVAILABLE', `The ${this.languageId} language server exited while answering ${method}; it is being restarted`, { language: this.languageId, method }));
        this.exitWaiters.add(exitWaiter);
        conn.sendRequest<R>(method, params, cts.token).then(
          (r) => {
            this.exitWaiters.delete(exitWaiter);
            resolve(r);
          },
          (err: unknown) => {
            this.exitWaiters.delete(exitWaiter);
            if (err instanceof ResponseError) {
              reject(new IcpyError('LSP_SERVER_ERROR', `The ${this.languageId} language server failed ${method}: ${err.message}`, { language: this.languageId, method, code: err.code, message: err.message }));
            } else if (gen !== this.generation || this.state !== 'ready') {
              exitWaiter();
            } else {
              reject(err);
            }
          },
        );
      });
    } finally {
      if (timer) clearTimeout(timer);
      if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
      cts.dispose();
      this.inflight--;
      this.touch();
    }
  }

  /**
   * Send a notification when the server is ready; dropped otherwise (whoever syncs documents
   * re-opens them on `onRestarted`, so nothing is lost that matters).
   */
  notify(method: string, params: unknown): void {
    this.touch();
    if (this.state !== 'ready' || !this.conn) return;
    void this.conn.sendNotification(method, params).catch((err: unknown) => this.opts.logger.debug('lsp notify failed', { language: this.languageId, method, ...describeError(err) }));
  }

  /** True when a notification sent now reaches the running server. */
  get isReady(): boolean {
    return this.state === 'ready';
  }

  /** Every notification the server sends (publishDiagnostics, logMessage, $/progress…). */
  onNotification(handler: (method: string, params: unknown) => void): Disposable {
    this.notificationHandlers.add(handler);
    return toDisposable(() => void this.notificationHandlers.delete(handler));
  }

  /** After a crash restart or a start following an idle stop: documents must be opened again. */
  onRestarted(cb: () => void): Disposable {
    this.restartHandlers.add(cb);
    return toDisposable(() => void this.restartHandlers.delete(cb));
  }

  /** After every successful start (the first one too), before ready() resolves for anyone. */
  onStarted(cb: () => void): Disposable {
    this.startHandlers.add(cb);
    return toDisposable(() => void this.startHandlers.delete(cb));
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    await this.stop();
    this.notificationHandlers.clear();
    this.restartHandlers.clear();
    this.startHandlers.clear();
  }

  private touch(): void {
    this.lastUse = Date.now();
    if (this.opts.idleTimeoutMs > 0 && this.state === 'ready' && !this.idleTimer) this.armIdle(this.opts.idleTimeoutMs);
  }

  private armIdle(ms: number): void {
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.state !== 'ready' || this.disposed) return;
      const left = this.lastUse + this.opts.idleTimeoutMs - Date.now();
      if (left > 0 || this.inflight > 0) return this.armIdle(Math.max(left, 100));
      this.opts.logger.info('language server idle: stopping', { language: this.languageId });
      void this.stop();
    }, ms);
    this.idleTimer.unref();
  }

  private fire(handlers: Set<() => void>, what: string): void {
    for (const cb of [...handlers]) {
      try {
        cb();
      } catch (err) {
        this.opts.logger.error(`lsp ${what} handler failed`, { language: this.languageId, ...describeError(err) });
      }
    }
  }

  private async start(): Promise<void> {
    this.state = this.generation > 0 ? 'restarting' : 'starting';
    const gen = ++this.generation;
    let command: string[];
    try {
      command = resolveServerCommand(this.spec, (this.opts.env ?? process.env).PATH);
    } catch (err) {
      this.state = 'failed';
      this.lastError = err as IcpyError;
      throw err;
    }
    const child = spawn(command[0]!, command.slice(1), {
      cwd: this.opts.root,
      env: this.opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true, // own process group: dispose kills the server and whatever it started
    });
    this.child = child;
    this.stderrTail = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      this.stderrTail = (this.stderrTail + s).slice(-STDERR_TAIL);
    });
    const conn = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    this.conn = conn;
    child.stdin!.on('error', () => {}); // EPIPE after a crash: the exit handler reports it
    conn.onNotification((method, params) => {
      for (const h of [...this.notificationHandlers]) {
        try {
          h(method, params);
        } catch (err) {
          this.opts.logger.error('lsp notification handler failed', { language: this.languageId, method, ...describeError(err) });
        }
      }
    });
    conn.onRequest((method, params) => this.answerServerRequest(method, params));
    conn.onError(([err]) => this.opts.logger.debug('lsp connection error', { language: this.languageId, ...describeError(err) }));
    conn.listen();

    const exited = new Promise<IcpyError>((resolve) => {
      child.once('error', (err: NodeJS.ErrnoException) =>
        resolve(new IcpyError('LSP_SERVER_UNAVAILABLE', `The ${this.languageId} language server could not be started (${err.code ?? err.message}). Install the package ${this.spec.package}.`, { language: this.languageId, package: this.spec.package })),
      );
      child.once('exit', (code, signal) =>
        resolve(new IcpyError('LSP_SERVER_UNAVAILABLE', `The ${this.languageId} language server exited (${signal ?? `code ${code}`}) ${this.state === 'ready' ? '' : 'while starting'}: ${this.stderrTail.trim().slice(-500)}`.trim(), { language: this.languageId, package: this.spec.package })),
      );
    });
    void exited.then((err) => this.onExit(child, gen, err));

    const params: InitializeParams = {
      processId: process.pid,
      clientInfo: { name: 'icpy' },
      rootUri: pathToFileURL(this.opts.root).href,
      workspaceFolders: [{ uri: pathToFileURL(this.opts.root).href, name: 'workspace' }],
      initializationOptions: this.spec.initializationOptions,
      capabilities: CLIENT_CAPABILITIES,
    };
    let timer: NodeJS.Timeout | undefined;
    try {
      // Starting may be slow on a loaded machine (tsserver, pyright): allow 6× a request.
      const initTimeout = Math.max(30_000, this.opts.requestTimeoutMs * 6);
      const result = await Promise.race([
        conn.sendRequest<InitializeResult>('initialize', params),
        exited.then((e) => Promise.reject(e)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new IcpyError('TIMEOUT', `The ${this.languageId} language server did not answer initialize within ${initTimeout} ms`, { language: this.languageId })), initTimeout);
        }),
      ]);
      if (this.disposed || gen !== this.generation) throw new IcpyError('LSP_SERVER_UNAVAILABLE', `The ${this.languageId} language server is shutting down`, { language: this.languageId });
      this.init = result;
      await conn.sendNotification('initialized', {});
      this.state = 'ready';
      this.lastError = undefined;
      this.touch();
      this.opts.logger.info('language server ready', { language: this.languageId, pid: child.pid });
    } catch (err) {
      this.lastError = err instanceof IcpyError ? err : new IcpyError('LSP_SERVER_UNAVAILABLE', `The ${this.languageId} language server failed to start: ${String(err)}`, { language: this.languageId });
      this.state = 'failed';
      killGroup(child, 'SIGKILL');
      throw this.lastError;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  private onExit(child: ChildProcess, gen: number, err: IcpyError): void {
    const wasReady = this.state === 'ready' && gen === this.generation;
    killGroup(child, 'SIGKILL'); // whatever it started (tsserver) goes with it
    this.conn?.dispose();
    if (this.child === child) {
      this.child = undefined;
      this.conn = undefined;
    }
    for (const w of [...this.exitWaiters]) w();
    this.exitWaiters.clear();
    if (this.disposed || !wasReady) return;
    this.state = 'restarting';
    this.lastError = err;
    const now = Date.now();
    this.crashes.push(now);
    while (this.crashes.length && this.crashes[0]! < now - 60_000) this.crashes.shift();
    if (this.crashes.length > this.opts.maxRestartsPerMinute) {
      this.state = 'failed';
      this.opts.logger.error('language server keeps crashing: giving up until asked again', { language: this.languageId, crashes: this.crashes.length });
      return;
    }
    const delay = BACKOFF_MS[Math.min(this.crashes.length - 1, BACKOFF_MS.length - 1)]!;
    this.opts.logger.warn('language server crashed: restarting', { language: this.languageId, delayMs: delay, error: err.message });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.disposed) return;
      this.restartCount++;
      this.ready().catch((e: unknown) => this.opts.logger.error('language server restart failed', { language: this.languageId, ...describeError(e) }));
    }, delay);
  }

  /** shutdown → exit → (grace) → SIGKILL the group. Leaves the server `stopped`. */
  private async stop(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const child = this.child;
    const conn = this.conn;
    const wasReady = this.state === 'ready';
    this.state = this.disposed ? 'stopped' : this.state === 'failed' ? 'failed' : 'stopped';
    this.generation++; // any exit from now on is expected, not a crash
    this.child = undefined;
    this.conn = undefined;
    this.init = undefined;
    if (!child) return;
    const gone = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
    });
    if (conn && wasReady) {
      const grace = new Promise<void>((r) => setTimeout(r, STOP_GRACE_MS).unref());
      try {
        await Promise.race([conn.sendRequest('shutdown'), grace, gone]);
        void conn.sendNotification('exit').catch(() => {});
      } catch {
        /* it is being killed anyway */
      }
      await Promise.race([gone, grace]);
    }
    killGroup(child, 'SIGKILL');
    await Promise.race([gone, new Promise<void>((r) => setTimeout(r, STOP_GRACE_MS).unref())]);
    if (child.pid !== undefined) await groupGone(child.pid, STOP_GRACE_MS);
    conn?.dispose();
    for (const w of [...this.exitWaiters]) w();
    this.exitWaiters.clear();
  }

  /** Server→client requests, answered by icpy (never forwarded to raw clients). */
  private async answerServerRequest(method: string, params: unknown): Promise<unknown> {
    switch (method) {
      case 'workspace/configuration': {
        const items = (params as { items?: { section?: string }[] } | undefined)?.items ?? [];
        return items.map((i) => (i.section !== undefined && this.spec.settings ? lookupSection(this.spec.settings, i.section) : null));
      }
      case 'client/registerCapability':
      case 'client/unregisterCapability':
      case 'window/workDoneProgress/create':
        return null;
      case 'window/showMessageRequest':
        return null;
      case 'workspace/workspaceFolders':
        return [{ uri: pathToFileURL(this.opts.root).href, name: 'workspace' }];
      case 'workspace/applyEdit': {
        if (!this.opts.applyEdit) return { applied: false, failureReason: 'icpy does not apply edits from this server' };
        try {
          return await this.opts.applyEdit((params as { edit?: unknown } | undefined)?.edit);
        } catch (err) {
          return { applied: false, failureReason: err instanceof Error ? err.message : String(err) };
        }
      }
      default:
        throw new ResponseError(-32601, `icpy does not handle ${method}`);
    }
  }
}

function lookupSection(settings: Record<string, unknown>, section: string): unknown {
  if (Object.hasOwn(settings, section)) return settings[section];
  let cur: unknown = settings;
  for (const part of section.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, part)) return null;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur ?? null;
}

/** Waits (bounded) until no live process of the group is left. */
async function groupGone(pgid: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (!liveGroupMembers(pgid).length) return;
    if (Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* gone */
    }
  }
}

const CLIENT_CAPABILITIES: InitializeParams['capabilities'] = {
  workspace: {
    applyEdit: true,
    workspaceEdit: { documentChanges: true },
    configuration: true,
    workspaceFolders: true,
    symbol: {},
    didChangeConfiguration: {},
  },
  textDocument: {
    synchronization: { didSave: true, dynamicRegistration: false },
    completion: { completionItem: { snippetSupport: false, documentationFormat: ['markdown', 'plaintext'] } },
    hover: { contentFormat: ['markdown', 'plaintext'] },
    definition: { linkSupport: false },
    references: {},
    documentSymbol: { hierarchicalDocumentSymbolSupport: true },
    formatting: {},
    rename: { prepareSupport: false },
    codeAction: {},
    publishDiagnostics: { relatedInformation: true, versionSupport: true },
  },
  window: { workDoneProgress: false },
  general: { positionEncodings: ['utf-16'] },
};
