import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LazyEventData, type EventSource } from '../../core/broker/index.js';
import { IcpyError } from '../../core/errors.js';
import type { Session } from '../../core/rpc/index.js';
import { COPY_FRAME_BYTES, encodeBinaryExecOutputFrame, encodeJsonExecOutput, type ExecOutputEncoding } from './output-frame.js';
import { OutputLog, READ_BYTES, readText, type OutputRead, type OutputStream } from './output-log.js';
import { processAlive, sessionMembers, signalSession } from '../process-tree.js';
import { OutputFiles } from './output-files.js';
import { parseRusage, TIME_FORMAT } from './rusage.js';
import type { z } from 'zod';
import type { completionSchema } from './exec.schemas.js';
import type { SandboxProvider } from './sandbox-port.js';
import { directSpawner, type SpawnedStdin, type Spawner } from './spawner.js';

/** A validated, resolved request (ExecService checked every field). */
export interface RunSpec {
  id: string;
  language: string;
  extension: string;
  /** Workspace-relative program file, or null for `code`. */
  path: string | null;
  /** Absolute program file for `path`. */
  programFile: string | null;
  code: string | null;
  /** Interpreter with its first word absolute. */
  interpreter: string[];
  args: string[];
  stdin: string | null;
  /** Close stdin after `stdin` (else it stays open for exec.write until eof). */
  closeStdin: boolean;
  cwd: string;
  cwdRel: string;
  env: Record<string, string>;
  timeoutMs: number;
  memoryMb: number;
  cpuSeconds: number;
  sandbox: boolean;
  source: EventSource;
}

export interface RunTools {
  /** /usr/bin/time (GNU) for cpuMs / maxRssKb, when installed. */
  timeBin: string | undefined;
  /** prlimit (util-linux) for the memory and CPU limits. */
  prlimitBin: string | undefined;
  sandbox: SandboxProvider | undefined;
  /** Who starts the process (default: this process, child_process.spawn). */
  spawner?: Spawner;
  root: string;
  hide: string[];
  extraReadOnly: string[];
}

/**
 * `exec.completed` data and a run's `completion`: the wire schema's type (exec.schemas.ts), so
 * the run and the documented contract cannot drift apart. `cpuMs`/`maxRssKb` are null when
 * unknown (GNU time missing, or the whole group had to be SIGKILLed).
 */
export type Completion = z.infer<typeof completionSchema>;

export interface RunHooks {
  publish(topic: string, data: unknown): void;
  onStarted(run: ExecRun): void;
  onCompleted(run: ExecRun): void;
}

export interface RunOptions {
  maxOutputBytes: number;
  /** Largest text of one exec.output event / notification. */
  batchBytes: number;
  killGraceMs: number;
  /** An attached connection with this many bytes unsent is behind: it is sent no more until it drains. */
  highWaterBytes: number;
  /** A connection behind this long (ms) no longer holds the reading of the output files back (it is still fed as it drains). */
  stallTimeoutMs: number;
}

interface Attachment {
  connectionId: string;
  session: Session;
  encoding: ExecOutputEncoding;
  cursor: number;
  ready: boolean;
  /** Behind: waiting for the connection's buffer to drain. */
  waiting: boolean;
  /** Behind for longer than stallTimeoutMs. */
  stalled: boolean;
  stallTimer: NodeJS.Timeout | undefined;
  completedSent: boolean;
  /** Everything was delivered (completion included): the attachment is over. */
  onDone: (() => void) | undefined;
}

/** What one flush encoded, shared by every attachment at the same cursor (and the broker event's text). */
interface FlushCache {
  /** The exec.output event data published at each offset (its text built once, when first needed). */
  texts: Map<number, LazyEventData<ExecOutputEvent>>;
  frames: Map<string, { frame: string | Uint8Array | Uint8Array[]; parts: Buffer[] | undefined; end: number }>;
}

/** Largest binary frame's data: one read buffer of the log (no JSON escaping to bound, so larger than a JSON batch). */
const BINARY_BATCH_BYTES = READ_BYTES;

/** Reading the output files stays at most this far ahead of the fastest attached connection (within the log's cache). */
const READ_AHEAD_BYTES = 2 * 1024 * 1024;
/** After the program is gone, an attached connection holds the last reading back at most this long (ms). */
const FINAL_PACE_MS = 1000;

/** Bytes of exec.write input held for a run still queued. */
const MAX_PENDING_STDIN = 1024 * 1024;
/** Bytes of input written to a running program that it has not read yet (held in a pipe's writer meanwhile). */
export const MAX_UNREAD_STDIN = 8 * 1024 * 1024;

/**
 * One execution: its process group, its output log (offsets, cap, marker), the connections
 * attached to it with a cursor each, its limits, and its kill. Published output (exec.output) and
 * attached connections read the same log, so replay and live output are one path with no seam.
 */
export class ExecRun {
  status: 'queued' | 'running' | 'completed' = 'queued';
  readonly createdAt = Date.now();
  startedAt: number | null = null;
  finishedAt: number | null = null;
  pid: number | null = null;
  completion: Completion | undefined;
  readonly log: OutputLog;
  readonly completed: Promise<Completion>;

  /** The process's stdin, once it was asked to start. */
  private child: SpawnedStdin | undefined;
  private dir: string | undefined;
  private rusageFile: string | undefined;
  private wrapped = false;
  private files: OutputFiles | undefined;
  private drainScheduled = false;
  /** The program's session is gone: what is left in the files is read (drainToEnd), then the run finishes. */
  private ending: { timer: NodeJS.Timeout | undefined; expired: boolean } | undefined;
  private sessionPoll: NodeJS.Timeout | undefined;
  /** Pruned while a connection was still reading: the files close when it is done. */
  private disposeWhenIdle = false;
  private readonly attachments = new Map<string, Attachment>();
  private published = 0;
  private flushScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private killTimers: NodeJS.Timeout[] = [];
  private closeGuard: NodeJS.Timeout | undefined;
  private killing: 'timeout' | 'cancel' | undefined;
  private exit: { code: number | null; signal: NodeJS.Signals | null; at: number } | undefined;
  private pendingStdin: string[] = [];
  private pendingStdinBytes = 0;
  /** Input handed to the program's stdin that is not in its pipe yet. */
  private unreadStdinBytes = 0;
  private pendingEof = false;
  private stdinClosed = false;
  private resolveCompleted!: (c: Completion) => void;

  constructor(
    readonly spec: RunSpec,
    private readonly tools: RunTools,
    private readonly opts: RunOptions,
    private readonly hooks: RunHooks,
  ) {
    this.log = new OutputLog(opts.maxOutputBytes);
    this.completed = new Promise((resolve) => (this.resolveCompleted = resolve));
  }

  get id(): string {
    return this.spec.id;
  }

  // ---- start ------------------------------------------------------------------------------

  start(): void {
    if (this.status !== 'queued') return;
    this.status = 'running';
    this.startedAt = Date.now();
    let argv: string[];
    let env: Record<string, string>;
    try {
      ({ argv, env } = this.command());
    } catch (err) {
      return this.finish(err instanceof IcpyError ? err.message : `Cannot start: ${(err as Error).message}`);
    }
    try {
      const files = new OutputFiles(this.dir!, () => this.onOutputChanged());
      this.files = files;
      this.log.attachFiles(files.readFds);
      const [stdoutFd, stderrFd] = files.childFds;
      const [stdoutPath, stderrPath] = files.paths;
      const spawner = this.tools.spawner ?? directSpawner;
      // Once the program has its descriptors (or failed to start), the files leave the folder and ours close.
      this.child = spawner.spawn(
        { file: argv[0]!, args: argv.slice(1), cwd: this.spec.cwd, env, stdoutPath, stderrPath, stdoutFd, stderrFd },
        {
          onSpawn: (pid) => {
            files.release();
            this.onSpawned(pid);
          },
          onError: (err) => {
            files.release();
            this.exit ??= { code: null, signal: null, at: Date.now() };
            this.finish(`Cannot start: ${err.message}`);
          },
          onExit: (code, signal) => this.onExit(code, signal),
          onClose: () => this.awaitSession(),
        },
      );
    } catch (err) {
      this.files?.release();
      return this.finish(`Cannot start: ${(err as Error).message}`);
    }
    this.timer ??= setTimeout(() => this.kill('timeout'), this.spec.timeoutMs);
    // Input goes in order behind the start (the helper gets it after the spawn request).
    if (this.spec.stdin !== null) this.writeStdin(this.spec.stdin);
    for (const s of this.pendingStdin) this.writeStdin(s);
    this.pendingStdin = [];
    if (this.spec.closeStdin || this.pendingEof) this.closeStdin();
  }

  /** The process is up (its pid is its session and process group). */
  private onSpawned(pid: number): void {
    if (this.status === 'completed') {
      // Finished (cancelled, timed out) while it was being started: it goes at once.
      signalSession(pid, 'SIGKILL');
      return;
    }
    this.pid = pid;
    this.hooks.publish('exec.started', {
      id: this.id,
      pid,
      language: this.spec.language,
      path: this.spec.path,
      cwd: this.spec.cwdRel,
      sandbox: this.spec.sandbox,
    });
    this.hooks.onStarted(this);
    // Cancelled (or timed out) while it was being started: the kill it missed.
    const killing = this.killing;
    if (killing) {
      this.killing = undefined;
      this.kill(killing);
    }
  }

  /** argv and env: [time] [prlimit] [bwrap …] interpreter program args. */
  private command(): { argv: string[]; env: Record<string, string> } {
    const s = this.spec;
    this.dir = mkdtempSync(join(tmpdir(), 'icpy-exec-'));
    let program = s.programFile;
    if (program === null) {
      program = join(this.dir, 'main' + s.extension);
      writeFileSync(program, s.code ?? '', { mode: 0o600 });
    }
    let argv = [...s.interpreter, program, ...s.args];
    let env = s.env;
    if (s.sandbox) {
      const sb = this.tools.sandbox;
      if (!sb || !sb.available()) throw new IcpyError('SANDBOX_UNAVAILABLE', 'bubblewrap (bwrap) is not installed: apt-get install -y bubblewrap');
      const c = sb.command({
        root: this.tools.root,
        cwd: s.cwd,
        command: argv,
        env,
        hide: this.tools.hide,
        extraReadOnly: [this.dir, ...this.tools.extraReadOnly],
      });
      argv = [c.file, ...c.args];
      env = c.env;
    }
    if (s.memoryMb > 0 || s.cpuSeconds > 0) {
      const prlimit = this.tools.prlimitBin;
      if (!prlimit) throw new IcpyError('UNAVAILABLE', 'prlimit (util-linux) is needed for memoryMb / cpuSeconds and was not found');
      const limits = ['--core=0'];
      // RLIMIT_DATA, not RLIMIT_AS: V8 reserves far more address space than it uses (node fails to start under --as=512M).
      if (s.memoryMb > 0) limits.push(`--data=${s.memoryMb * 1024 * 1024}`);
      // Soft limit → SIGXCPU, hard one second later → SIGKILL (a program catching SIGXCPU still stops).
      if (s.cpuSeconds > 0) limits.push(`--cpu=${s.cpuSeconds}:${s.cpuSeconds + 1}`);
      argv = [prlimit, ...limits, '--', ...argv];
    }
    if (this.tools.timeBin) {
      this.rusageFile = join(this.dir, 'rusage');
      argv = [this.tools.timeBin, '-f', TIME_FORMAT, '-o', this.rusageFile, '--', ...argv];
      this.wrapped = true;
    }
    return { argv, env };
  }

  // ---- input --------------------------------------------------------------------------------

  write(data: string, eof: boolean): number {
    if (this.status === 'completed') throw new IcpyError('EXEC_FINISHED', `Run ${this.id} has finished`, { id: this.id });
    if (this.stdinClosed || this.pendingEof) throw new IcpyError('INVALID_REQUEST', `The stdin of run ${this.id} is closed`, { id: this.id });
    const bytes = Buffer.byteLength(data);
    if (this.status === 'queued') {
      if (this.pendingStdinBytes + bytes > MAX_PENDING_STDIN) {
        throw new IcpyError('LIMIT_EXCEEDED', `Run ${this.id} is queued and holds ${MAX_PENDING_STDIN} bytes of input already`, {
          limit: 'pendingStdinBytes',
          max: MAX_PENDING_STDIN,
        });
      }
      if (data) this.pendingStdin.push(data);
      this.pendingStdinBytes += bytes;
      if (eof) this.pendingEof = true;
      return bytes;
    }
    if (this.unreadStdinBytes + bytes > MAX_UNREAD_STDIN) {
      throw new IcpyError('LIMIT_EXCEEDED', `Run ${this.id} has not read ${this.unreadStdinBytes} bytes of its input yet: write again once it has`, {
        limit: 'unreadStdinBytes',
        max: MAX_UNREAD_STDIN,
      });
    }
    if (data) this.writeStdin(data, bytes);
    if (eof) this.closeStdin();
    return bytes;
  }

  private writeStdin(data: string, bytes = Buffer.byteLength(data)): void {
    if (!this.child) return;
    this.unreadStdinBytes += bytes;
    this.child.write(data, () => (this.unreadStdinBytes -= bytes));
  }

  private closeStdin(): void {
    this.stdinClosed = true;
    this.child?.end();
  }

  // ---- output -------------------------------------------------------------------------------

  /** The program wrote (or the run ended): read the files on the next turn, once however many writes. */
  private onOutputChanged(): void {
    if (this.status === 'completed') return this.files?.lateWrite();
    this.scheduleDrain();
  }

  private scheduleDrain(): void {
    if (this.drainScheduled || this.status !== 'running') return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  /**
   * Index what the program wrote: one read per file at a time, in libuv's thread pool (a flood
   * does not hold the event loop, and the copy out of the page cache runs beside the sending).
   */
  private drain(): void {
    const files = this.files;
    // A finished run's log is what it was at the end (what comes later is OutputFiles.lateWrite's).
    if (!files || this.status === 'completed') return;
    if (this.ending) return this.drainToEnd();
    files.readAsync(this.log, this.readAheadLimit(), this.afterRead);
  }

  /** A read landed: the next one starts at once (it runs while this one is sent), what it brought goes out this turn. */
  private readonly afterRead = (progress: boolean): void => {
    if (this.status === 'completed') return;
    if (progress) this.scheduleFlush();
    // No progress (a dropped read, an unfinished last character): the next change of the files asks again.
    if (progress || this.ending) this.drain();
  };

  /**
   * How far the log may grow before the fastest reading connection catches up: it holds the
   * reading back (not the program), so what it is sent was read once, from the cache. Slower
   * connections read what they lack back from the files.
   */
  private readAheadLimit(): number {
    let max = -1;
    for (const a of this.attachments.values()) if (a.ready && !a.stalled && a.cursor > max) max = a.cursor;
    return max < 0 ? Infinity : max + READ_AHEAD_BYTES;
  }

  /** One flush per event-loop turn: what arrived meanwhile goes out as few, large events. */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const cache: FlushCache = { texts: new Map(), frames: new Map() };
    while (this.published < this.log.end) {
      // Boundaries only: the event reads its bytes back when someone reads it.
      const r = this.log.span(this.published, this.opts.batchBytes);
      // The text is decoded only if someone reads the event (a subscriber, events.history, a JSON
      // attachment): a flood watched over binary frames decodes none of it.
      const id = this.id;
      const log = this.log;
      const { stream, offset, end } = r;
      // The thunk keeps offsets, not the bytes: the history holds no output, the log reads it back.
      const event = new LazyEventData(end - offset, () => ({ id, stream, offset, data: readText(log.read(offset, end - offset)) }));
      cache.texts.set(r.offset, event);
      this.hooks.publish('exec.output', event);
      this.published = r.end;
    }
    for (const a of this.attachments.values()) if (a.ready) this.pump(a, cache);
  }

  // ---- attach -------------------------------------------------------------------------------

  /** Deliver output from `since` to this connection (exec.output notifications or binary frames) once `start` runs. */
  attach(
    connectionId: string,
    session: Session,
    since: number | undefined,
    encoding: ExecOutputEncoding = 'json',
    onDone?: () => void,
  ): { result: AttachResult; start: () => void } {
    const end = this.log.end;
    if (since !== undefined && since > end) {
      throw new IcpyError('INVALID_PARAMS', `Invalid params: since: offset ${since} is beyond the end of output (${end})`, { field: 'since', end });
    }
    this.detach(connectionId);
    const a: Attachment = {
      connectionId,
      session,
      encoding,
      cursor: since ?? 0,
      ready: false,
      waiting: false,
      stalled: false,
      stallTimer: undefined,
      completedSent: false,
      onDone,
    };
    this.attachments.set(connectionId, a);
    return {
      result: { id: this.id, offset: a.cursor, end, status: this.status, encoding },
      start: () => {
        if (this.attachments.get(connectionId) !== a) return;
        a.ready = true;
        this.pump(a);
      },
    };
  }

  detach(connectionId: string): boolean {
    const a = this.attachments.get(connectionId);
    if (!a) return false;
    this.attachments.delete(connectionId);
    clearTimeout(a.stallTimer);
    this.scheduleDrain();
    if (this.attachments.size === 0 && this.status === 'completed') {
      // Nobody reads a finished run now: its cache goes (32 kept runs must not pin 8 MiB each).
      this.log.trim();
      if (this.disposeWhenIdle) this.dispose();
    }
    return true;
  }

  /** Send what this connection lacks while its buffer is under the high-water mark. */
  private pump(a: Attachment, cache?: FlushCache): void {
    const binary = a.encoding === 'binary';
    while (a.cursor < this.log.end && a.session.bufferedAmount < this.opts.highWaterBytes) {
      const key = `${a.encoding}:${a.cursor}`;
      let f = cache?.frames.get(key);
      if (!f) {
        const r = binary ? this.readFrame(a.cursor) : this.log.read(a.cursor, this.opts.batchBytes);
        // The files are closed (the run was let go): nothing more can be read.
        if (r.end <= a.cursor) break;
        const frame = binary
          ? encodeBinaryExecOutputFrame(this.id, r, (p) => this.log.headroom(p))
          : encodeJsonExecOutput(this.id, r.stream, r.offset, cache?.texts.get(r.offset)?.toJSON().data ?? readText(r));
        f = { frame, parts: binary ? r.parts : undefined, end: r.end };
        cache?.frames.set(key, f);
      }
      // A binary frame carries the log's own buffers: they are not read over until the socket has written them.
      a.session.sendFrame(f.frame, f.parts ? this.log.lend(f.parts) : undefined);
      a.cursor = f.end;
    }
    // This connection caught up: reading on may have waited for it.
    this.scheduleDrain();
    if (a.cursor < this.log.end) return this.waitWritable(a);
    if (this.completion && !a.completedSent) {
      a.completedSent = true;
      a.session.notify('exec.completed', this.completion);
      // Nothing more will come: let go of the connection (and it of this run's log).
      this.detach(a.connectionId);
      a.onDone?.();
    }
  }

  /**
   * What one binary frame carries from `cursor`: the rest of one read buffer (sent in place, see
   * encodeBinaryExecOutputFrame), or, when that is small, up to COPY_FRAME_BYTES of several.
   */
  private readFrame(cursor: number): OutputRead {
    const r = this.log.read(cursor, BINARY_BATCH_BYTES, true);
    if (r.end - r.offset < COPY_FRAME_BYTES && r.end < this.log.end) return this.log.read(cursor, COPY_FRAME_BYTES);
    return r;
  }

  private waitWritable(a: Attachment): void {
    if (a.waiting) return;
    a.waiting = true;
    a.stallTimer ??= setTimeout(() => {
      a.stalled = true;
      this.scheduleDrain();
    }, this.opts.stallTimeoutMs);
    a.stallTimer.unref();
    a.session.onWritable(() => {
      a.waiting = false;
      clearTimeout(a.stallTimer);
      a.stallTimer = undefined;
      a.stalled = false;
      if (!a.ready || this.attachments.get(a.connectionId) !== a) return;
      this.pump(a);
    });
  }

  // ---- ending -------------------------------------------------------------------------------

  /** Stop the run: SIGTERM its session, SIGKILL after the grace. A queued run just ends. */
  kill(reason: 'timeout' | 'cancel'): void {
    if (this.status === 'completed' || this.killing) return;
    this.killing = reason;
    if (this.status === 'queued') {
      this.status = 'running';
      this.startedAt = Date.now();
      this.exit = { code: null, signal: null, at: Date.now() };
      return this.finish(null);
    }
    const pid = this.pid;
    if (pid === null) return;
    // The GNU time wrapper is spared at first so it can still report the program's rusage.
    const spare = this.wrapped ? pid : undefined;
    const term = () => {
      const hit = signalSession(pid, 'SIGTERM', spare).filter((p) => p !== spare);
      // A kill right at the start can come before the wrapper has started the program: nothing
      // but the wrapper to signal yet, so look again shortly (until the SIGKILL at the grace).
      if (hit.length === 0 && spare !== undefined && !this.exit && this.status !== 'completed') this.killTimers.push(setTimeout(term, 20));
    };
    term();
    const grace = this.opts.killGraceMs;
    this.killTimers.push(
      setTimeout(() => signalSession(pid, 'SIGKILL', spare), grace),
      setTimeout(() => this.sweep(), grace + 500),
    );
  }

  /** SIGKILL whatever is left in the session (and its group) until nothing is. */
  private sweep(): void {
    if (this.pid === null) return;
    const left = signalSession(this.pid, 'SIGKILL');
    if (left.length > 0 && this.status !== 'completed') this.killTimers.push(setTimeout(() => this.sweep(), 100));
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.exit = { code, signal, at: Date.now() };
    clearTimeout(this.timer);
    const pid = this.pid!;
    // No orphans: what the program left running in its session goes with it.
    if (signalSession(pid, 'SIGTERM').length > 0) this.killTimers.push(setTimeout(() => this.sweep(), this.opts.killGraceMs));
    // What is left of the session gets the grace, then SIGKILL; past that the run ends whatever remains.
    this.closeGuard = setTimeout(() => this.finish(null), this.opts.killGraceMs + 2000);
  }

  /**
   * The program exited: its output is complete once the rest of its session (which holds the
   * files too) is gone — SIGTERMed at the exit, SIGKILLed after the grace. A process that left
   * the session does not hold the run up; should it still write, see OutputFiles.lateWrite.
   */
  private awaitSession(): void {
    clearTimeout(this.sessionPoll);
    if (this.status === 'completed') return;
    if (this.pid === null || sessionMembers(this.pid).length === 0) return this.drainToEnd();
    this.sessionPoll = setTimeout(() => this.awaitSession(), 25);
  }

  /**
   * Read the files to their end (as `drain`, a read per file at a time), then finish. An attached
   * connection still holds the reading back for FINAL_PACE_MS (it is sent the rest as it is read,
   * once), then the rest is read without waiting for it.
   */
  private drainToEnd(): void {
    if (this.status === 'completed') return;
    const files = this.files;
    if (!files) return this.finish(null);
    const ending = (this.ending ??= { timer: undefined, expired: false });
    const limit = this.readAheadLimit();
    const paced = limit !== Infinity && !ending.expired;
    // A read under way: afterRead comes back here.
    if (files.readAsync(this.log, paced ? limit : Infinity, this.afterRead)) return;
    // Held back: the connection's next send asks for more (pump → scheduleDrain); the timer ends the wait.
    if (paced && files.unread()) {
      ending.timer ??= setTimeout(() => {
        ending.expired = true;
        this.drainToEnd();
      }, FINAL_PACE_MS);
      return;
    }
    // All read but, perhaps, an unfinished last character: finish reads it (repaired).
    this.finish(null);
  }

  /**
   * Let go of the run's output (ExecService prunes finished runs): the files close, and reads of
   * the log — events.history's exec.output included — come back empty. A connection still reading
   * is let finish first.
   */
  dispose(): void {
    if (this.attachments.size > 0) {
      this.disposeWhenIdle = true;
      return;
    }
    this.files?.dispose();
    this.files = undefined;
    this.log.close();
  }

  private finish(error: string | null): void {
    if (this.status === 'completed') return;
    if (this.child && !this.exit) return; // 'close' without 'exit' cannot happen; wait for exit
    this.status = 'completed';
    this.finishedAt = Date.now();
    clearTimeout(this.timer);
    clearTimeout(this.closeGuard);
    clearTimeout(this.sessionPoll);
    clearTimeout(this.ending?.timer);
    for (const t of this.killTimers) clearTimeout(t);
    this.killTimers = [];
    // Anything left in the session is killed at once now.
    if (this.pid !== null && this.exit) {
      const pid = this.pid;
      if (signalSession(pid, 'SIGKILL').length > 0) setTimeout(() => signalSession(pid, 'SIGKILL'), 100).unref();
    }
    let rusage;
    if (this.rusageFile) {
      try {
        rusage = parseRusage(readFileSync(this.rusageFile, 'utf8'));
      } catch {
        /* the wrapper was killed: no report */
      }
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.pendingStdin = [];
    // All of it: the program and its session are gone (an unfinished last character is repaired).
    this.files?.drain(this.log, this.readAheadLimit(), true);
    this.flush();
    const exit = this.exit;
    this.completion = {
      id: this.id,
      exitCode: rusage ? rusage.exitCode : (exit?.code ?? null),
      signal: rusage ? rusage.signal : (exit?.signal ?? null),
      durationMs: this.startedAt === null ? 0 : (exit?.at ?? this.finishedAt) - this.startedAt,
      timedOut: this.killing === 'timeout',
      cancelled: this.killing === 'cancel',
      truncated: this.log.truncated,
      cpuMs: rusage?.cpuMs ?? null,
      maxRssKb: rusage?.maxRssKb ?? null,
      bytes: this.log.end,
      droppedBytes: this.log.droppedBytes,
      error,
    };
    this.hooks.publish('exec.completed', this.completion);
    for (const a of this.attachments.values()) if (a.ready) this.pump(a);
    if (this.attachments.size === 0) this.log.trim();
    this.resolveCompleted(this.completion);
    this.hooks.onCompleted(this);
  }

  /** True while any process of the run's session is alive (tests, shutdown). */
  get alive(): boolean {
    return this.pid !== null && this.status !== 'completed' && processAlive(this.pid);
  }
}

/** Data of an `exec.output` event. */
export interface ExecOutputEvent {
  id: string;
  stream: OutputStream;
  offset: number;
  data: string;
}

export interface AttachResult {
  id: string;
  /** Output will start at this offset. */
  offset: number;
  /** Offset after the newest output byte at the time of the attach. */
  end: number;
  status: 'queued' | 'running' | 'completed';
  encoding: ExecOutputEncoding;
}
