import { realpathSync, statSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { Broker, EventSource } from '../../core/broker/index.js';
import { IcpyError } from '../../core/errors.js';
import type { Disposable } from '../../core/lifecycle.js';
import type { Logger } from '../../core/logger.js';
import type { Session } from '../../core/rpc/index.js';
import { ExecRun, type AttachResult, type Completion, type RunSpec, type RunTools } from './exec-run.js';
import { HelperSpawner } from './spawner.js';
import type { ExecOutputEncoding } from './output-frame.js';
import { languageForPath, resolveInterpreter, type LanguageTable } from './languages.js';
import { CODE_PREVIEW_CHARS, type RunHistory } from './run-history.js';

export interface ExecLimits {
  maxConcurrentRuns: number;
  maxQueuedRuns: number;
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
  maxOutputBytes: number;
  defaultMemoryMb: number;
  defaultCpuSeconds: number;
  /** Agents' runs are sandboxed unless they pass `sandbox: false`. */
  sandboxAgents: boolean;
}

export interface ExecServiceOptions {
  root: string;
  broker: Broker;
  logger: Logger;
  languages: LanguageTable;
  limits: ExecLimits;
  tools: Omit<RunTools, 'root'>;
  history?: RunHistory;
  /** Largest encoded event (limits.maxEventBytes): output events are cut well below it. */
  maxEventBytes: number;
  killGraceMs?: number;
  /** Finished runs kept in memory (exec.list, exec.attach) before the oldest is forgotten. */
  keepFinished?: number;
  /** …and how long at most (ms). */
  keepFinishedMs?: number;
  /** …and how many output bytes they hold together at most (the newest is always kept). Default 64 MiB. */
  keepFinishedBytes?: number;
  /** An attached connection that drains nothing for this long (ms) stops pausing the program. Default 10 s. */
  stallTimeoutMs?: number;
}

/** Unsent bytes on an attached connection above which it is sent no more until its socket drains (flow control). */
export const ATTACH_HIGH_WATER_BYTES = 1024 * 1024;

export interface RunRequest {
  language?: string;
  code?: string;
  path?: string;
  args?: string[];
  stdin?: string;
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  memoryMb?: number;
  cpuSeconds?: number;
  sandbox?: boolean;
  wait?: boolean;
  detach?: boolean;
}

export interface RunSummary {
  id: string;
  language: string;
  path: string | null;
  cwd: string;
  status: 'queued' | 'running' | 'completed';
  /** 1-based place in the queue; 0 when not queued. */
  position: number;
  pid: number | null;
  sandbox: boolean;
  source: EventSource;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  bytes: number;
  completion: Completion | null;
}

export interface WaitResult {
  id: string;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
  cancelled: boolean;
  truncated: boolean;
  cpuMs: number | null;
  maxRssKb: number | null;
  error: string | null;
}

/** Largest memory limit a run may ask for (MiB): 1 TiB. */
export const MAX_MEMORY_MB = 1024 * 1024;

/**
 * Code execution: a bounded queue in front of at most maxConcurrentRuns running process groups.
 * Runs belong to the workspace (every client sees them in exec.list and their events); a caller
 * that asks `detach: false` takes its run with it when it goes.
 */
export class ExecService implements Disposable {
  private readonly runs = new Map<string, ExecRun>();
  private readonly queue: ExecRun[] = [];
  private readonly finished: ExecRun[] = [];
  /** Runs holding a slot (started, not completed). */
  private readonly active = new Set<ExecRun>();
  private counter = 0;
  private readonly rootReal: string;
  private readonly tools: RunTools;
  private readonly batchBytes: number;
  private disposed = false;
  private readonly ownSpawner: HelperSpawner | undefined;
  /** Finished, not yet in the history (bookkeep runs on the next turn). */
  private readonly unrecorded: ExecRun[] = [];

  constructor(private readonly opts: ExecServiceOptions) {
    this.rootReal = realpathSync(opts.root);
    // Runs are started by a small helper process, not by forking this one (see spawner.ts).
    this.ownSpawner = opts.tools.spawner ? undefined : new HelperSpawner();
    this.tools = { ...opts.tools, spawner: opts.tools.spawner ?? this.ownSpawner, root: this.rootReal };
    // JSON may escape a byte as up to 6 characters (\u001b): keep one event's text under maxEventBytes.
    this.batchBytes = Math.max(4096, Math.min(256 * 1024, Math.floor(opts.maxEventBytes / 8)));
  }

  /** Validate, then start or queue. Errors (bad field, missing interpreter, full queue) come at once. */
  submit(req: RunRequest, source: EventSource, signal?: AbortSignal): ExecRun {
    if (this.disposed) throw new IcpyError('UNAVAILABLE', 'Server is shutting down');
    const spec = this.resolve(req, source);
    if (this.active.size >= this.opts.limits.maxConcurrentRuns && this.queue.length >= this.opts.limits.maxQueuedRuns) {
      throw new IcpyError('LIMIT_EXCEEDED', `Too many runs: ${this.active.size} running and ${this.queue.length} queued`, {
        limit: 'maxQueuedRuns',
        max: this.opts.limits.maxQueuedRuns,
      });
    }
    const run = new ExecRun(
      spec,
      this.tools,
      {
        maxOutputBytes: this.opts.limits.maxOutputBytes,
        batchBytes: this.batchBytes,
        killGraceMs: this.opts.killGraceMs ?? 2000,
        highWaterBytes: ATTACH_HIGH_WATER_BYTES,
        stallTimeoutMs: this.opts.stallTimeoutMs ?? 10_000,
      },
      {
        publish: (topic, data) => this.publish(topic, data, source),
        onStarted: () => {},
        onCompleted: (r) => this.onCompleted(r, signal, onAbort),
      },
    );
    const onAbort = () => run.kill('cancel');
    if (req.detach === false && signal) {
      if (signal.aborted) throw new IcpyError('UNAVAILABLE', 'The caller has gone');
      signal.addEventListener('abort', onAbort, { once: true });
    }
    this.runs.set(run.id, run);
    if (this.active.size < this.opts.limits.maxConcurrentRuns) {
      this.active.add(run);
      run.start();
    } else {
      this.queue.push(run);
      this.publish('exec.queued', { id: run.id, position: this.queue.length }, source);
    }
    return run;
  }

  /** exec.run with `wait: true`: the whole result once the run ends. */
  async runAndWait(req: RunRequest, source: EventSource, signal?: AbortSignal): Promise<WaitResult> {
    const run = this.submit({ ...req }, source, signal);
    const c = await run.completed;
    return {
      id: run.id,
      exitCode: c.exitCode,
      signal: c.signal,
      stdout: run.log.text('stdout'),
      stderr: run.log.text('stderr'),
      durationMs: c.durationMs,
      timedOut: c.timedOut,
      cancelled: c.cancelled,
      truncated: c.truncated,
      cpuMs: c.cpuMs,
      maxRssKb: c.maxRssKb,
      error: c.error,
    };
  }

  get(id: string): ExecRun {
    const run = this.runs.get(id);
    if (!run) throw new IcpyError('EXEC_NOT_FOUND', `No run '${id}'`, { id });
    return run;
  }

  position(run: ExecRun): number {
    return run.status === 'queued' ? this.queue.indexOf(run) + 1 : 0;
  }

  summary(run: ExecRun): RunSummary {
    return {
      id: run.id,
      language: run.spec.language,
      path: run.spec.path,
      cwd: run.spec.cwdRel,
      status: run.status,
      position: this.position(run),
      pid: run.pid,
      sandbox: run.spec.sandbox,
      source: run.spec.source,
      createdAt: run.createdAt,
      startedAt: run.startedAt,
      finishedAt: run.finishedAt,
      bytes: run.log.end,
      completion: run.completion ?? null,
    };
  }

  list(): RunSummary[] {
    return [...this.runs.values()].map((r) => this.summary(r));
  }

  write(id: string, data: string, eof: boolean): number {
    return this.get(id).write(data, eof);
  }

  cancel(id: string): RunSummary {
    const run = this.get(id);
    const queued = this.queue.indexOf(run);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      run.kill('cancel');
      this.publishPositions(queued);
    } else {
      run.kill('cancel');
    }
    return this.summary(run);
  }

  attach(id: string, session: Session, connectionId: string, since?: number, encoding?: ExecOutputEncoding): { result: AttachResult; start: () => void } {
    const run = this.get(id);
    const key = `exec:${id}`;
    const handle = { dispose: () => void run.detach(connectionId) };
    const out = run.attach(connectionId, session, since, encoding, () => {
      if (session.handles.get(key) === handle) session.handles.delete(key);
    });
    session.handles.set(key, handle);
    return out;
  }

  detach(id: string, session: Session, connectionId: string): boolean {
    session.handles.delete(`exec:${id}`);
    return this.get(id).detach(connectionId);
  }

  history(limit: number, before?: number) {
    return this.opts.history?.list(limit, before) ?? { runs: [], more: false };
  }

  // ---- internals ------------------------------------------------------------------------------

  private publish(topic: string, data: unknown, source: EventSource): void {
    try {
      this.opts.broker.publish(topic, data, source);
    } catch (err) {
      this.opts.logger.warn('exec: event refused', { topic, error: String(err) });
    }
  }

  private onCompleted(run: ExecRun, signal: AbortSignal | undefined, onAbort: () => void): void {
    signal?.removeEventListener('abort', onAbort);
    this.active.delete(run);
    this.finished.push(run);
    // The bookkeeping waits a turn: exec.completed (corked with this turn's small messages) goes
    // out first, not after a history insert and an older run's pruning (0.5–6 ms on a flood).
    this.unrecorded.push(run);
    if (this.unrecorded.length === 1) setImmediate(() => this.bookkeep());
  }

  /** Record finished runs in the history, prune the kept ones, start what is queued. */
  private bookkeep(): void {
    for (const run of this.unrecorded.splice(0)) this.record(run);
    this.prune();
    this.startNext();
  }

  private startNext(): void {
    if (this.disposed) return;
    let started = 0;
    while (this.active.size < this.opts.limits.maxConcurrentRuns && this.queue.length > 0) {
      const next = this.queue.shift()!;
      this.active.add(next);
      started++;
      next.start();
    }
    if (started > 0) this.publishPositions(0);
  }

  /** Every queued run from index `from` on moved up: tell each its new position. */
  private publishPositions(from: number): void {
    for (let i = from; i < this.queue.length; i++) {
      const r = this.queue[i]!;
      this.publish('exec.queued', { id: r.id, position: i + 1 }, r.spec.source);
    }
  }

  private prune(): void {
    const keep = this.opts.keepFinished ?? 32;
    const maxAge = this.opts.keepFinishedMs ?? 10 * 60 * 1000;
    const maxBytes = this.opts.keepFinishedBytes ?? 64 * 1024 * 1024;
    const now = Date.now();
    // Finished runs' logs are what a flood leaves behind: 32 runs at an 8 MiB cap would pin 256 MiB.
    let bytes = 0;
    for (const r of this.finished) bytes += r.log.end;
    while (
      this.finished.length > keep ||
      (this.finished.length > 0 && now - this.finished[0]!.finishedAt! > maxAge) ||
      (this.finished.length > 1 && bytes > maxBytes)
    ) {
      const old = this.finished.shift()!;
      bytes -= old.log.end;
      this.runs.delete(old.id);
      old.dispose();
    }
  }

  private record(run: ExecRun): void {
    const c = run.completion!;
    try {
      this.opts.history?.add({
        id: run.id,
        language: run.spec.language,
        path: run.spec.path,
        code: run.spec.code === null ? null : run.spec.code.slice(0, CODE_PREVIEW_CHARS),
        args: run.spec.args,
        cwd: run.spec.cwdRel,
        sandbox: run.spec.sandbox,
        source: run.spec.source,
        createdAt: run.createdAt,
        startedAt: run.startedAt,
        finishedAt: run.finishedAt!,
        exitCode: c.exitCode,
        signal: c.signal,
        durationMs: c.durationMs,
        timedOut: c.timedOut,
        cancelled: c.cancelled,
        truncated: c.truncated,
        cpuMs: c.cpuMs,
        maxRssKb: c.maxRssKb,
        bytes: c.bytes,
        error: c.error,
      });
    } catch (err) {
      this.opts.logger.warn('exec: history not recorded', { id: run.id, error: String(err) });
    }
  }

  /** Every field checked and resolved; a bad one is INVALID_PARAMS naming it. */
  private resolve(req: RunRequest, source: EventSource): RunSpec {
    const L = this.opts.limits;
    if ((req.code === undefined) === (req.path === undefined)) {
      throw new IcpyError('INVALID_PARAMS', 'Invalid params: give exactly one of code and path', { field: req.code === undefined ? 'code' : 'path' });
    }
    let programFile: string | null = null;
    let path: string | null = null;
    if (req.path !== undefined) {
      programFile = this.inside(req.path, 'path', 'file');
      path = relative(this.rootReal, programFile).split(sep).join('/');
    }
    const lang =
      req.language !== undefined ? this.opts.languages.get(req.language) : path !== null ? languageForPath(this.opts.languages, path) : undefined;
    if (!lang) {
      const known = [...this.opts.languages.keys()].join(', ');
      throw new IcpyError(
        'INVALID_PARAMS',
        req.language !== undefined ? `Invalid params: language: unknown language '${req.language}' (known: ${known})` : `Invalid params: language: give one (known: ${known})`,
        { field: 'language', known: [...this.opts.languages.keys()] },
      );
    }
    const cwd = this.inside(req.cwd ?? '.', 'cwd', 'dir');
    const timeoutMs = req.timeoutMs ?? L.defaultTimeoutMs;
    if (timeoutMs > L.maxTimeoutMs) {
      throw new IcpyError('INVALID_PARAMS', `Invalid params: timeoutMs: at most ${L.maxTimeoutMs}`, { field: 'timeoutMs', limit: 'maxTimeoutMs', max: L.maxTimeoutMs });
    }
    const cpuSeconds = req.cpuSeconds ?? L.defaultCpuSeconds;
    const sandbox = req.sandbox ?? (L.sandboxAgents && source.kind === 'agent');
    const baseEnv = sandbox ? sandboxEnv() : serverEnv();
    const env: Record<string, string> = { ...baseEnv };
    for (const [k, v] of Object.entries(req.env ?? {})) env[k] = v;
    const id = `x${++this.counter}-${randomUUID().slice(0, 6)}`;
    env.ICPY_EXEC_ID = id;
    const interpreter = resolveInterpreter(lang, process.env.PATH);
    if (sandbox && !this.tools.sandbox?.available()) {
      throw new IcpyError('SANDBOX_UNAVAILABLE', 'bubblewrap (bwrap) is not installed: apt-get install -y bubblewrap', { field: 'sandbox' });
    }
    return {
      id,
      language: lang.id,
      extension: lang.extension,
      path,
      programFile,
      code: req.code ?? null,
      interpreter,
      args: req.args ?? [],
      stdin: req.stdin ?? null,
      closeStdin: req.stdin !== undefined || req.wait === true,
      cwd,
      cwdRel: relative(this.rootReal, cwd).split(sep).join('/'),
      env,
      timeoutMs,
      memoryMb: req.memoryMb ?? L.defaultMemoryMb,
      cpuSeconds,
      sandbox,
      source,
    };
  }

  /** `p` resolved against the root, symlinks followed, must exist inside it and be a file / folder. */
  private inside(p: string, field: string, kind: 'file' | 'dir'): string {
    let real: string;
    let isDir: boolean;
    try {
      real = realpathSync(resolve(this.rootReal, p));
      isDir = statSync(real).isDirectory();
    } catch {
      throw new IcpyError(kind === 'file' ? 'FILE_NOT_FOUND' : 'NOT_A_DIRECTORY', `${field}: no such ${kind === 'file' ? 'file' : 'folder'}: ${p}`, {
        field,
        path: p,
      });
    }
    const rel = relative(this.rootReal, real);
    if (rel === '..' || rel.startsWith('..' + sep) || isAbsolute(rel)) {
      throw new IcpyError('PATH_OUTSIDE_WORKSPACE', `${field} is outside the workspace: ${p}`, { field, path: p });
    }
    if (kind === 'dir' && !isDir) throw new IcpyError('NOT_A_DIRECTORY', `${field} is not a folder: ${p}`, { field, path: p });
    if (kind === 'file' && isDir) throw new IcpyError('IS_A_DIRECTORY', `${field} is a folder: ${p}`, { field, path: p });
    return real;
  }

  /** Kill every run and forget the queue (server shutdown): no process outlives the server. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const queued = this.queue.splice(0);
    for (const r of queued) r.kill('cancel');
    const all = [...this.runs.values()];
    for (const r of all) r.kill('cancel');
    await Promise.all(all.map((r) => r.completed));
    // Runs the shutdown stopped are in the history too.
    for (const run of this.unrecorded.splice(0)) this.record(run);
    for (const r of all) r.dispose();
    this.ownSpawner?.dispose();
  }
}

/** The server's environment minus its credential (unsandboxed runs: like a terminal, like Jupyter). */
function serverEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  delete env.ICPY_TOKEN;
  return env;
}

/** A sandboxed run starts from a clean environment: nothing of the server's leaks in. */
function sandboxEnv(): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: '/tmp',
    LANG: process.env.LANG ?? 'C.UTF-8',
    TERM: 'dumb',
  };
}
