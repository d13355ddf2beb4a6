import { accessSync, constants, existsSync, realpathSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { randomUUID } from 'node:crypto';
import { SYSTEM_SOURCE, type Broker, type EventSource } from '../../core/broker/index.js';
import { IcpyError } from '../../core/errors.js';
import type { Disposable } from '../../core/lifecycle.js';
import type { Logger } from '../../core/logger.js';
import type { Session } from '../../core/rpc/index.js';
import type { OutputEncoding } from './output-frame.js';
import { TerminalSession, type AttachResult, type TerminalLimits } from './terminal-session.js';

export interface TerminalServiceOptions {
  root: string;
  broker: Broker;
  logger: Logger;
  scrollbackBytes: number;
  /** 0 = never cull. */
  idleTimeoutMs: number;
  highWaterBytes: number;
  stallTimeoutMs: number;
  killGraceMs?: number;
  /** Exited terminals kept (for their scrollback) before the oldest is dropped. */
  maxExitedKept?: number;
  /** Live (running) terminals at once; one more is LIMIT_EXCEEDED (limits.maxTerminals). Default 64. */
  maxTerminals?: number;
  /** An exited terminal is removed this long after its exit (limits.exitedTerminalGraceMs). Default 10 min. */
  exitedGraceMs?: number;
  /** Folders put first on every terminal's PATH (the one holding icpy's own `icpy` command). */
  pathPrepend?: readonly string[];
}

export interface CreateTerminalInput {
  cwd?: string;
  shell?: string;
  args?: string[];
  env?: Record<string, string>;
  cols: number;
  rows: number;
  name?: string;
}

export interface TerminalSummary {
  id: string;
  name: string;
  cwd: string;
  shell: string;
  args: string[];
  pid: number;
  cols: number;
  rows: number;
  status: 'running' | 'exited';
  exitCode: number | null;
  signal: number | null;
  createdAt: number;
  attached: number;
  paused: boolean;
  start: number;
  end: number;
}

export interface RunResult {
  id: string;
  exitCode: number | null;
  signal: number | null;
  timedOut: boolean;
  output: string;
  truncated: boolean;
  durationMs: number;
}

export type CloseReason = 'closed' | 'idle' | 'shutdown' | 'pruned' | 'reaped';

/**
 * The workspace's terminals. A terminal belongs to the workspace, not to a connection: it lives
 * until closed, until its process exits (then its scrollback stays readable until pruned), or
 * until nobody has been attached for the idle timeout (when one is set).
 */
export class TerminalService implements Disposable {
  private readonly terminals = new Map<string, TerminalSession>();
  private readonly idleTimers = new Map<string, NodeJS.Timeout>();
  private readonly reapTimers = new Map<string, NodeJS.Timeout>();
  private readonly limits: TerminalLimits;
  private readonly rootReal: string;
  private counter = 0;
  private disposed = false;

  constructor(private readonly opts: TerminalServiceOptions) {
    this.limits = {
      scrollbackBytes: opts.scrollbackBytes,
      highWaterBytes: opts.highWaterBytes,
      stallTimeoutMs: opts.stallTimeoutMs,
      killGraceMs: opts.killGraceMs ?? 1000,
    };
    this.rootReal = realpathSync(opts.root);
  }

  create(input: CreateTerminalInput, source: EventSource = SYSTEM_SOURCE): TerminalSession {
    if (this.disposed) throw new IcpyError('UNAVAILABLE', 'Server is shutting down');
    this.assertCapacity();
    const cwd = this.resolveCwd(input.cwd);
    const shell = input.shell ?? defaultShell();
    const id = `t${++this.counter}-${randomUUID().slice(0, 6)}`;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    delete env.ICPY_TOKEN; // the shell must not inherit the server's credential
    env.TERM = 'xterm-256color';
    env.COLORTERM = 'truecolor';
    Object.assign(env, input.env ?? {});
    // `icpy file.py` just works in icpy's terminals, as `code` does in VS Code's.
    if (this.opts.pathPrepend?.length) env.PATH = [...this.opts.pathPrepend, env.PATH].filter(Boolean).join(delimiter);
    env.ICPY_TERMINAL_ID = id;
    if (!findExecutable(shell, env.PATH ?? '', cwd)) {
      throw new IcpyError('INVALID_PARAMS', `Invalid params: shell: no executable program '${shell}'`, { field: 'shell' });
    }
    const t = new TerminalSession(
      { id, name: input.name ?? `Terminal ${this.counter}`, cwd, shell, args: input.args ?? [], env, cols: input.cols, rows: input.rows },
      this.limits,
      {
        onExit: (term) => this.onExit(term),
        onAttachmentsChanged: (term) => this.updateIdle(term),
        // However the attachment ended, the connection no longer holds it.
        onDetached: (term, session) => void session.handles.delete(handleKey(term.id)),
      },
    );
    this.terminals.set(id, t);
    this.opts.broker.publish('terminal.created', this.summary(t), source);
    this.updateIdle(t);
    return t;
  }

  get(id: string): TerminalSession {
    const t = this.terminals.get(id);
    if (!t) throw new IcpyError('TERMINAL_NOT_FOUND', `No terminal '${id}'`, { id });
    return t;
  }

  /** A summary's cwd (absolute, real) as a workspace-relative path, for path limits. */
  relativeCwd(cwd: string): string {
    return relative(this.rootReal, cwd).split(sep).join('/');
  }

  list(): TerminalSummary[] {
    return [...this.terminals.values()].map((t) => this.summary(t));
  }

  summary(t: TerminalSession): TerminalSummary {
    return {
      id: t.id,
      name: t.name,
      cwd: t.spec.cwd,
      shell: t.spec.shell,
      args: t.spec.args,
      pid: t.pid,
      cols: t.cols,
      rows: t.rows,
      status: t.status,
      exitCode: t.exitCode,
      signal: t.signal,
      createdAt: t.createdAt,
      attached: t.attachedCount,
      paused: t.paused,
      start: t.scrollback.start,
      end: t.scrollback.end,
    };
  }

  write(id: string, data: string, connectionId?: string): void {
    this.get(id).write(data, connectionId);
  }

  resize(id: string, cols: number, rows: number, source: EventSource): void {
    const t = this.get(id);
    if (t.resize(cols, rows, source.connectionId)) this.publishResized(t, source);
  }

  rename(id: string, name: string, source: EventSource): TerminalSummary {
    const t = this.get(id);
    const previous = t.name;
    t.name = name;
    this.opts.broker.publish('terminal.renamed', { id, name, previous }, source);
    return this.summary(t);
  }

  attach(
    id: string,
    session: Session,
    source: EventSource,
    opts: { since?: number; encoding: OutputEncoding; ack: boolean; cols?: number; rows?: number; redraw?: number },
  ): { result: AttachResult; start: () => void } {
    const t = this.get(id);
    const { result, start, resized } = t.attach(session, source.connectionId, opts);
    if (resized) this.publishResized(t, source);
    // The connection disposes its handles when it closes: that detaches it.
    session.handles.set(handleKey(id), { dispose: () => void t.detach(source.connectionId, 'disconnected') });
    return { result, start };
  }

  detach(id: string, connectionId: string): boolean {
    return this.get(id).detach(connectionId, 'detached');
  }

  ack(id: string, connectionId: string, offset: number): void {
    this.get(id).ack(connectionId, offset);
  }

  async close(id: string, reason: CloseReason = 'closed', source: EventSource = SYSTEM_SOURCE): Promise<void> {
    const t = this.get(id);
    await t.close();
    if (this.terminals.get(id) !== t) return;
    this.terminals.delete(id);
    this.clearIdle(id);
    this.clearReap(id);
    this.opts.broker.publish('terminal.closed', { id, reason }, source);
  }

  /**
   * Run `command` in a new, visible terminal (with the user's shell, `-c`); resolve with its
   * output and exit code. On timeout the terminal's process session is killed and `timedOut` is
   * true. The terminal stays listed (exited) so people watching can read it.
   *
   * A process that exits can lose its last output (node-pty stops reading the PTY at EIO even
   * when bytes are still in flight), so the command runs under a small /bin/sh wrapper that
   * prints an exit marker (an OSC sequence terminals ignore) after it and waits: every byte
   * before the marker has then been read. The wrapper exits with the command's code once told.
   */
  async run(input: { command: string; cwd?: string; timeoutMs: number; cols: number; rows: number; name?: string }, source: EventSource): Promise<RunResult> {
    const started = Date.now();
    const nonce = randomUUID().slice(0, 8);
    const marker = `\x1b]777;icpy-run-exit;${nonce};`;
    const t = this.create(
      {
        cwd: input.cwd,
        shell: '/bin/sh',
        args: ['-c', RUN_WRAPPER],
        env: { ICPY_RUN_SHELL: defaultShell(), ICPY_RUN_COMMAND: input.command, ICPY_RUN_NONCE: nonce },
        cols: input.cols,
        rows: input.rows,
        name: input.name ?? runName(input.command),
      },
      source,
    );
    const markerRe = new RegExp(`${escapeRegExp(marker)}(\\d+)\x07`);
    let tail = '';
    let markerCode: number | undefined;
    let onMarker: () => void = () => {};
    const markerSeen = new Promise<void>((resolve) => (onMarker = resolve));
    const watch = t.onOutput((data) => {
      const hay = tail + data;
      tail = hay.slice(-(marker.length + 16));
      const m = markerRe.exec(hay);
      if (m) {
        markerCode = Number(m[1]);
        onMarker();
      }
    });
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      markerSeen.then(() => 'marker' as const),
      t.exited.then(() => 'exited' as const),
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), input.timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    void watch.dispose();
    let text = t.scrollback.read(0).data;
    if (outcome === 'marker') {
      text = text.slice(0, text.lastIndexOf(marker));
      // Let the wrapper exit with the command's own code; close it if it does not.
      try {
        t.write('\n');
      } catch {
        /* already gone */
      }
      await Promise.race([t.exited, delay(2000)]);
      if (t.status === 'running') await t.close();
    } else if (outcome === 'timeout') {
      await t.close();
    }
    return {
      id: t.id,
      exitCode: outcome === 'marker' ? markerCode! : outcome === 'timeout' ? null : t.exitCode,
      signal: outcome === 'marker' ? null : t.signal,
      timedOut: outcome === 'timeout',
      output: text.replace(/\r\n/g, '\n'),
      truncated: t.scrollback.start > 0,
      durationMs: Date.now() - started,
    };
  }

  private onExit(t: TerminalSession): void {
    if (this.terminals.get(t.id) !== t) return;
    this.opts.broker.publish('terminal.exited', { id: t.id, code: t.exitCode, signal: t.signal }, SYSTEM_SOURCE);
    // The exited terminal stays (its scrollback readable) until closed, reaped or pruned;
    // closing it also kills whatever the shell left running in its session.
    this.scheduleReap(t);
    this.pruneExited();
  }

  /** Live terminals are bounded (limits.maxTerminals); exited ones are bounded by reaping. */
  private assertCapacity(): void {
    const max = this.opts.maxTerminals ?? 64;
    let live = 0;
    for (const t of this.terminals.values()) if (t.status === 'running') live++;
    if (live >= max) {
      throw new IcpyError('LIMIT_EXCEEDED', `Too many terminals: ${live} are running (limit ${max}); close one first`, { limit: 'maxTerminals', max });
    }
  }

  /** An exited terminal is removed (terminal.closed, reason "reaped") once its grace period ends. */
  private scheduleReap(t: TerminalSession): void {
    if (this.disposed || this.reapTimers.has(t.id)) return;
    const timer = setTimeout(() => {
      this.reapTimers.delete(t.id);
      if (this.terminals.get(t.id) !== t) return;
      void this.close(t.id, 'reaped').catch((err) => this.opts.logger.warn('terminals: reap failed', { id: t.id, error: String(err) }));
    }, this.opts.exitedGraceMs ?? 10 * 60 * 1000);
    timer.unref();
    this.reapTimers.set(t.id, timer);
  }

  private clearReap(id: string): void {
    const timer = this.reapTimers.get(id);
    if (timer) clearTimeout(timer);
    this.reapTimers.delete(id);
  }

  private pruneExited(): void {
    const exited = [...this.terminals.values()].filter((t) => t.status === 'exited');
    const excess = exited.length - (this.opts.maxExitedKept ?? 16);
    for (const t of exited.slice(0, Math.max(0, excess))) {
      void this.close(t.id, 'pruned').catch((err) => this.opts.logger.warn('terminals: prune failed', { id: t.id, error: String(err) }));
    }
  }

  private updateIdle(t: TerminalSession): void {
    if (!this.opts.idleTimeoutMs || this.disposed) return;
    if (t.attachedCount > 0) return this.clearIdle(t.id);
    if (this.idleTimers.has(t.id)) return;
    const timer = setTimeout(() => {
      this.idleTimers.delete(t.id);
      if (this.terminals.get(t.id) !== t || t.attachedCount > 0) return;
      this.opts.logger.info('terminals: closing idle terminal', { id: t.id });
      void this.close(t.id, 'idle').catch(() => {});
    }, this.opts.idleTimeoutMs);
    timer.unref();
    this.idleTimers.set(t.id, timer);
  }

  private clearIdle(id: string): void {
    const timer = this.idleTimers.get(id);
    if (timer) clearTimeout(timer);
    this.idleTimers.delete(id);
  }

  private publishResized(t: TerminalSession, source: EventSource): void {
    this.opts.broker.publish('terminal.resized', { id: t.id, cols: t.cols, rows: t.rows }, source);
  }

  /** The cwd, resolved against the workspace root, must exist inside it (symlinks resolved). */
  private resolveCwd(cwd: string | undefined): string {
    const abs = resolve(this.opts.root, cwd ?? '.');
    let real: string;
    let isDir: boolean;
    try {
      real = realpathSync(abs);
      isDir = statSync(real).isDirectory();
    } catch (err) {
      throw cwdError(cwd, err);
    }
    const rel = relative(this.rootReal, real);
    if (rel === '..' || rel.startsWith('..' + sep) || isAbsolute(rel)) {
      throw new IcpyError('PATH_OUTSIDE_WORKSPACE', `cwd is outside the workspace: ${cwd}`, { field: 'cwd', path: cwd });
    }
    if (!isDir) throw new IcpyError('NOT_A_DIRECTORY', `cwd is not a directory: ${cwd}`, { field: 'cwd', path: cwd });
    return real;
  }

  /** Close every terminal (server shutdown). */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const id of this.idleTimers.keys()) this.clearIdle(id);
    for (const id of this.reapTimers.keys()) this.clearReap(id);
    await Promise.all([...this.terminals.keys()].map((id) => this.close(id, 'shutdown').catch(() => {})));
  }
}

/** Runs the command, prints the exit marker, waits for a line, exits with the command's code. */
const RUN_WRAPPER =
  '"$ICPY_RUN_SHELL" -c "$ICPY_RUN_COMMAND"; c=$?; stty -echo 2>/dev/null; ' +
  'printf \'\\033]777;icpy-run-exit;%s;%d\\007\' "$ICPY_RUN_NONCE" "$c"; read _; exit $c';

/** What a failed lookup of a terminal's cwd means to the caller (never an internal error). */
function cwdError(cwd: string | undefined, err: unknown): IcpyError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new IcpyError('FILE_NOT_FOUND', `cwd does not exist: ${cwd}`, { field: 'cwd', path: cwd });
  const why = code === 'ENAMETOOLONG' ? 'a name in it is too long' : code === 'ELOOP' ? 'it is a symbolic link loop' : code === 'EACCES' ? 'permission denied' : `cannot be used (${code ?? 'error'})`;
  return new IcpyError('INVALID_PARAMS', `Invalid params: cwd: ${why}`, { field: 'cwd', path: cwd });
}

/** The default name of a terminal.run terminal: the command's start, on one line. */
function runName(command: string): string {
  const oneLine = command.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return `run: ${Array.from(oneLine).slice(0, 60).join('')}`;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The program a PTY would run: a path (relative to cwd) or a name looked up in PATH. */
function findExecutable(program: string, path: string, cwd: string): string | undefined {
  const candidates = program.includes('/') ? [resolve(cwd, program)] : path.split(delimiter).filter(Boolean).map((d) => join(d, program));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      if (statSync(c).isFile()) return c;
    } catch {
      /* next */
    }
  }
  return undefined;
}

function handleKey(id: string): string {
  return `terminal:${id}`;
}

function defaultShell(): string {
  const sh = process.env.SHELL;
  if (sh && existsSync(sh)) return sh;
  return existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh';
}
