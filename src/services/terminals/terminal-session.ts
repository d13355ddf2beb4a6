import { spawn, type IPty } from 'node-pty';
import { IcpyError } from '../../core/errors.js';
import { toDisposable, type Disposable } from '../../core/lifecycle.js';
import type { Session } from '../../core/rpc/index.js';
import { encodeOutputFrame, type OutputEncoding } from './output-frame.js';
import { processAlive, sessionMembers, signalSession } from '../process-tree.js';
import { ScrollbackBuffer } from './scrollback-buffer.js';

export interface TerminalSpec {
  id: string;
  name: string;
  /** Absolute, already checked to be inside the workspace. */
  cwd: string;
  shell: string;
  args: string[];
  env: Record<string, string>;
  cols: number;
  rows: number;
}

export interface TerminalLimits {
  scrollbackBytes: number;
  /** An attached client this many bytes behind (socket buffer, or unacknowledged) pauses the PTY. */
  highWaterBytes: number;
  /** A client behind for this long is detached. */
  stallTimeoutMs: number;
  /** Between SIGHUP and SIGKILL when closing. */
  killGraceMs: number;
}

export type DetachReason = 'detached' | 'stalled' | 'closed' | 'disconnected';

export interface TerminalHooks {
  onExit(t: TerminalSession): void;
  /** The number of attached clients changed (idle tracking). */
  onAttachmentsChanged(t: TerminalSession): void;
  onDetached?(t: TerminalSession, session: Session, reason: DetachReason): void;
}

export interface AttachOptions {
  since?: number;
  encoding: OutputEncoding;
  /** Flow control by acknowledgements (terminal.ack) besides the socket's own buffer. */
  ack: boolean;
  cols?: number;
  rows?: number;
  /** Start early enough to repaint a blank screen of this many rows (see ScrollbackBuffer.redrawStart). */
  redraw?: number;
}

export interface AttachResult {
  id: string;
  /** The offset output will start from (the requested one, or the oldest kept). */
  offset: number;
  /** True when `since` was older than the kept scrollback: bytes between were lost. */
  truncated: boolean;
  start: number;
  end: number;
  cols: number;
  rows: number;
  status: 'running' | 'exited';
}

interface Attachment {
  connectionId: string;
  session: Session;
  /** Next offset to send. */
  cursor: number;
  /** False until the attach reply has gone out, so output never precedes it. */
  ready: boolean;
  encoding: OutputEncoding;
  acked: number | undefined;
  size: { cols: number; rows: number } | undefined;
  waitingWritable: boolean;
  behind: boolean;
  stallTimer: NodeJS.Timeout | undefined;
  exitSent: boolean;
}

/** Largest output frame, so one frame never monopolises a socket. */
const FRAME_BYTES = 256 * 1024;
/** Output arriving within this long of a flush that carried this much counts as a stream… */
const STREAM_GAP_MS = 4;
const STREAM_MIN_BYTES = 2048;
/** …and is collected this long before being sent. */
const BATCH_MS = 2;

/**
 * One PTY and everything it owes its clients: the scrollback, the attached connections with a
 * cursor each, flow control (pause the PTY while any attached client is behind; detach a client
 * behind for longer than the stall timeout) and the kill of its whole process session.
 *
 * Delivery reads from the scrollback at each client's cursor, so a replay and live output are the
 * same path: a client sees every byte from its start offset once, in order, with no seam.
 */
export class TerminalSession {
  readonly createdAt = Date.now();
  readonly scrollback: ScrollbackBuffer;
  readonly pid: number;
  name: string;
  cols: number;
  rows: number;
  status: 'running' | 'exited' = 'running';
  exitCode: number | null = null;
  signal: number | null = null;
  lastActivity = Date.now();
  /** Resolves once the process has exited (however). */
  readonly exited: Promise<void>;

  private readonly pty: IPty;
  private readonly attachments = new Map<string, Attachment>();
  private readonly outputListeners = new Set<(data: string) => void>();
  private ptyPaused = false;
  private pausedWatch: NodeJS.Timeout | undefined;
  private shellGone = false;
  private flushScheduled = false;
  private lastFlushAt = 0;
  private lastFlushEnd = 0;
  private lastFlushBytes = 0;
  private closing: Promise<void> | undefined;
  private disposed = false;

  constructor(
    readonly spec: TerminalSpec,
    private readonly limits: TerminalLimits,
    private readonly hooks: TerminalHooks,
  ) {
    this.name = spec.name;
    this.cols = spec.cols;
    this.rows = spec.rows;
    this.scrollback = new ScrollbackBuffer(limits.scrollbackBytes);
    try {
      this.pty = spawn(spec.shell, spec.args, {
        name: spec.env.TERM ?? 'xterm-256color',
        cols: spec.cols,
        rows: spec.rows,
        cwd: spec.cwd,
        env: spec.env,
        encoding: 'utf8',
      });
    } catch (err) {
      throw new IcpyError('INVALID_PARAMS', `Cannot start shell '${spec.shell}': ${(err as Error).message}`, { field: 'shell' });
    }
    this.pid = this.pty.pid;
    // node-pty decodes with a streaming UTF-8 decoder, so a character split across reads
    // arrives whole in one string.
    this.pty.onData((data) => {
      this.scrollback.append(data);
      for (const l of this.outputListeners) l(data);
      this.scheduleFlush();
    });
    this.exited = new Promise((resolve) => {
      this.pty.onExit(({ exitCode, signal }) => {
        this.status = 'exited';
        this.exitCode = signal ? null : exitCode;
        this.signal = signal || null;
        this.resumePty();
        this.scheduleFlush();
        resolve();
        this.hooks.onExit(this);
      });
    });
  }

  get id(): string {
    return this.spec.id;
  }

  get attachedCount(): number {
    return this.attachments.size;
  }

  get attachedConnections(): string[] {
    return [...this.attachments.keys()];
  }

  get paused(): boolean {
    return this.ptyPaused;
  }

  /** Watch output as it arrives (in-process consumers such as terminal.run). */
  onOutput(listener: (data: string) => void): Disposable {
    this.outputListeners.add(listener);
    return toDisposable(() => void this.outputListeners.delete(listener));
  }

  // ---- input and size -------------------------------------------------------------------

  write(data: string, connectionId?: string): void {
    this.assertRunning();
    this.lastActivity = Date.now();
    // Resize rule: the most recent active client's size wins. Typing makes a client active.
    const size = connectionId ? this.attachments.get(connectionId)?.size : undefined;
    if (size && (size.cols !== this.cols || size.rows !== this.rows)) this.applySize(size.cols, size.rows);
    this.pty.write(data);
  }

  resize(cols: number, rows: number, connectionId?: string): boolean {
    this.assertRunning();
    const a = connectionId ? this.attachments.get(connectionId) : undefined;
    if (a) a.size = { cols, rows };
    return this.applySize(cols, rows);
  }

  private applySize(cols: number, rows: number): boolean {
    if (cols === this.cols && rows === this.rows) return false;
    this.pty.resize(cols, rows);
    this.cols = cols;
    this.rows = rows;
    return true;
  }

  private assertRunning(): void {
    if (this.status !== 'running' || this.closing) {
      throw new IcpyError('TERMINAL_EXITED', `Terminal ${this.id} has exited`, { id: this.id, exitCode: this.exitCode, signal: this.signal });
    }
  }

  // ---- attach / detach ------------------------------------------------------------------

  /**
   * Attach a connection (replacing its previous attachment). Output starts only when the
   * returned `start` is called, i.e. after the reply has been sent.
   */
  attach(session: Session, connectionId: string, opts: AttachOptions): { result: AttachResult; start: () => void; resized: boolean } {
    if (this.closing) throw new IcpyError('TERMINAL_NOT_FOUND', `Terminal ${this.id} is closing`, { id: this.id });
    const end = this.scrollback.end;
    if (opts.since !== undefined && opts.since > end) {
      throw new IcpyError('INVALID_PARAMS', `Invalid params: since: offset ${opts.since} is beyond the end of output (${end})`, {
        field: 'since',
        end,
      });
    }
    const previous = this.attachments.get(connectionId);
    if (previous) this.release(previous);
    const start = this.scrollback.start;
    const truncated = opts.since !== undefined && opts.since < start;
    let cursor = Math.max(opts.since ?? start, start);
    if (opts.redraw) cursor = Math.min(cursor, this.scrollback.redrawStart(opts.redraw));
    const a: Attachment = {
      connectionId,
      session,
      cursor,
      ready: false,
      encoding: opts.encoding,
      acked: opts.ack ? cursor : undefined,
      size: opts.cols && opts.rows ? { cols: opts.cols, rows: opts.rows } : undefined,
      waitingWritable: false,
      behind: false,
      stallTimer: undefined,
      exitSent: false,
    };
    this.attachments.set(connectionId, a);
    // Attaching with a size makes this client the most recent active one.
    const resized = a.size !== undefined && this.status === 'running' && this.applySize(a.size.cols, a.size.rows);
    this.hooks.onAttachmentsChanged(this);
    return {
      result: { id: this.id, offset: cursor, truncated, start, end, cols: this.cols, rows: this.rows, status: this.status },
      resized,
      start: () => {
        if (this.attachments.get(connectionId) !== a) return;
        a.ready = true;
        this.scheduleFlush(true);
      },
    };
  }

  detach(connectionId: string, reason: DetachReason = 'detached'): boolean {
    const a = this.attachments.get(connectionId);
    if (!a) return false;
    this.attachments.delete(connectionId);
    this.release(a);
    if (reason !== 'detached' && reason !== 'disconnected') {
      a.session.notify('terminal.detached', { id: this.id, reason, offset: a.cursor });
    }
    this.hooks.onDetached?.(this, a.session, reason);
    this.hooks.onAttachmentsChanged(this);
    this.updateFlow();
    return true;
  }

  private release(a: Attachment): void {
    if (a.stallTimer) clearTimeout(a.stallTimer);
    a.stallTimer = undefined;
    a.ready = false;
  }

  /** The client has processed output up to `offset` (flow control by acknowledgement). */
  ack(connectionId: string, offset: number): void {
    const a = this.attachments.get(connectionId);
    if (!a) throw new IcpyError('INVALID_REQUEST', `This connection is not attached to terminal ${this.id}`, { id: this.id });
    if (a.acked === undefined) a.acked = offset;
    else a.acked = Math.max(a.acked, Math.min(offset, a.cursor));
    this.scheduleFlush(true);
  }

  // ---- delivery and flow control ---------------------------------------------------------

  /**
   * Output is batched: normally a flush runs on the next tick (keystroke echo stays immediate);
   * while output streams (the last flush, under STREAM_GAP_MS ago, carried STREAM_MIN_BYTES or
   * more) flushes wait BATCH_MS so a frame carries tens of kilobytes, not one 4 KiB PTY read.
   */
  private scheduleFlush(immediate = false): void {
    if (this.flushScheduled || this.disposed) return;
    this.flushScheduled = true;
    const run = () => {
      this.flushScheduled = false;
      this.flush();
    };
    const streaming = this.lastFlushBytes >= STREAM_MIN_BYTES && performance.now() - this.lastFlushAt < STREAM_GAP_MS;
    if (!immediate && streaming) setTimeout(run, BATCH_MS);
    else setImmediate(run);
  }

  /** Send each ready client what it lacks (output batched per tick), then pause or resume. */
  private flush(): void {
    if (this.disposed) return;
    this.lastFlushAt = performance.now();
    this.lastFlushBytes = this.scrollback.end - this.lastFlushEnd;
    this.lastFlushEnd = this.scrollback.end;
    // Clients at the same cursor share one encoded frame.
    const frames = new Map<string, { frame: string | Uint8Array; end: number }>();
    for (const a of this.attachments.values()) if (a.ready) this.pump(a, frames);
    this.updateFlow();
  }

  private pump(a: Attachment, frames: Map<string, { frame: string | Uint8Array; end: number }>): void {
    while (a.cursor < this.scrollback.end && !this.isBehind(a)) {
      const key = `${a.encoding}:${a.cursor}`;
      let f = frames.get(key);
      if (!f) {
        const r = this.scrollback.read(a.cursor, FRAME_BYTES);
        f = { frame: encodeOutputFrame(a.encoding, this.id, r.offset, r.data), end: r.end };
        frames.set(key, f);
      }
      a.session.sendFrame(f.frame);
      a.cursor = f.end;
    }
    const behind = this.isBehind(a);
    if (behind && !a.behind) {
      a.stallTimer = setTimeout(() => this.onStall(a), this.limits.stallTimeoutMs);
      a.stallTimer.unref();
    } else if (!behind && a.behind) {
      if (a.stallTimer) clearTimeout(a.stallTimer);
      a.stallTimer = undefined;
    }
    a.behind = behind;
    if (behind && !a.waitingWritable && a.session.bufferedAmount >= this.limits.highWaterBytes) {
      a.waitingWritable = true;
      a.session.onWritable(() => {
        a.waitingWritable = false;
        this.scheduleFlush(true);
      });
    }
    if (!behind && a.cursor >= this.scrollback.end && this.status === 'exited' && !a.exitSent) {
      a.exitSent = true;
      a.session.notify('terminal.exit', { id: this.id, offset: a.cursor, code: this.exitCode, signal: this.signal });
    }
  }

  private isBehind(a: Attachment): boolean {
    if (a.session.bufferedAmount >= this.limits.highWaterBytes) return true;
    return a.acked !== undefined && a.cursor - a.acked >= this.limits.highWaterBytes;
  }

  private onStall(a: Attachment): void {
    a.stallTimer = undefined;
    if (this.attachments.get(a.connectionId) !== a || !this.isBehind(a)) return;
    this.detach(a.connectionId, 'stalled');
  }

  /** The PTY runs only while no ready client is behind; a paused PTY blocks the writer. */
  private updateFlow(): void {
    if (this.status !== 'running' || this.disposed) return;
    let behind = false;
    for (const a of this.attachments.values()) if (a.ready && a.behind) behind = true;
    if (behind && !this.ptyPaused && !this.shellGone) {
      this.pty.pause();
      this.ptyPaused = true;
      this.watchWhilePaused();
    } else if (!behind && this.ptyPaused) {
      this.resumePty();
    }
  }

  private resumePty(): void {
    if (this.pausedWatch) clearInterval(this.pausedWatch);
    this.pausedWatch = undefined;
    if (!this.ptyPaused) return;
    this.ptyPaused = false;
    this.pty.resume();
  }

  /**
   * node-pty destroys the PTY socket 200 ms after the shell exits unless it has been read to
   * its end, so a PTY paused at that moment would lose its last bytes. While paused, check the
   * shell is alive; once gone, read on (what is left is bounded by the kernel's PTY buffer).
   */
  private watchWhilePaused(): void {
    this.pausedWatch = setInterval(() => {
      if (processAlive(this.pid)) return;
      this.shellGone = true;
      this.resumePty();
    }, 25);
    this.pausedWatch.unref();
  }

  // ---- end of life ------------------------------------------------------------------------

  /**
   * Kill the whole process session (SIGHUP, then SIGKILL after the grace period), detach every
   * client and release the PTY. Resolves when the shell and its descendants are gone.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    const sid = this.pid;
    this.shellGone = true;
    this.resumePty();
    signalSession(sid, 'SIGHUP');
    const deadline = Date.now() + this.limits.killGraceMs;
    while (Date.now() < deadline && (this.status === 'running' || sessionMembers(sid).length > 0)) {
      await delay(20);
    }
    if (this.status === 'running' || sessionMembers(sid).length > 0) {
      signalSession(sid, 'SIGKILL');
      await Promise.race([this.exited, delay(2000)]);
    }
    if (this.status === 'running') {
      // The process is gone but the PTY never reported it: release the descriptor ourselves.
      (this.pty as unknown as { destroy?: () => void }).destroy?.();
      if (!processAlive(sid)) {
        this.status = 'exited';
        this.signal = 9;
      }
    }
    for (const id of [...this.attachments.keys()]) this.detach(id, 'closed');
    this.disposed = true;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
