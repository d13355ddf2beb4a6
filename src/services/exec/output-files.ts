import { isUtf8 } from 'node:buffer';
import { close, closeSync, fstatSync, read, ftruncateSync, openSync, readdirSync, readSync, statSync, unlinkSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { READ_BYTES, type OutputLog, type OutputStream } from './output-log.js';
import { incompleteTail } from './utf8-cutter.js';

/** Past the cap, a file is cut back to its kept part once this much more is on disk (a cut can lose the count of what is written during it, so it is rare: floods under it are counted exactly). */
const DISCARD_SLACK = 256 * 1024 * 1024;
/**
 * Past a reading connection's read-ahead, a file is read on only once this much waits unread
 * (what is read there is read twice: once to index it, once more when the connection gets there).
 */
const BACKLOG_BYTES = 64 * 1024 * 1024;
/** At most one /proc scan for processes still writing to a finished run's output per this long. */
const LATE_SCAN_MS = 1000;
/** Without inotify (no watch left: fs.inotify.max_user_watches), the files are looked at this often. */
const POLL_MS = 50;

type WatchFile = (path: string, onChange: () => void) => FSWatcher;

const ignore = (): void => {};

/** Exactly what is there (a small read does not pin a large buffer), at most a full read, at most the room left under the cap. */
function readSize(log: OutputLog, unread: number): number {
  return Math.min(READ_BYTES, unread, Math.max(0, log.room) + 4);
}

const watchFile: WatchFile = (path, onChange) => watch(path, { persistent: false }, onChange);

interface StreamFile {
  stream: OutputStream;
  /** Ours: read and truncate (not O_APPEND). */
  fd: number;
  /** The program's write end (O_APPEND), until it has it. */
  childFd: number;
  watcher: FSWatcher | undefined;
  /** How far the file has been read (indexed or counted). */
  pos: number;
  /** End of the part the log points into: the file is never cut back below it. */
  keepEnd: number;
  dev: number;
  ino: number;
  /** An asynchronous read (readAsync) is under way: none other is started, the descriptor is not closed. */
  reading: boolean;
  /** Bumped whenever `pos` moves outside readAsync: a read under way from the old position is dropped. */
  gen: number;
  /** File size at which the last read took nothing (an unfinished last character): not read again until it grows. */
  stuckAt: number;
}

/**
 * A run's stdout and stderr as two files instead of pipes. The program writes (O_APPEND) into a
 * file that is unlinked as soon as it has it open (`release`; until then it is in the run's 0700
 * folder) — nothing to clean up, even after a crash, and no path for anyone to read — and never blocks on a slow reader; the server follows the files (inotify)
 * and indexes what arrives in the OutputLog, which reads the bytes back from the page cache when a
 * client needs them. Against a pipe this saves the server a copy into its own memory of every
 * byte kept (the page faults and the garbage collection of that memory were most of the cost of
 * streaming a flood), a wake-up per 64 KiB and the program's stalls on a full pipe.
 *
 * Disk is bounded by the output cap: past it nothing more is indexed, the files are cut back to
 * their kept part as they grow (the program's next write lands at the new end), and a process
 * that escaped the run's session and still writes after the run finished is killed.
 */
export class OutputFiles {
  private readonly files: StreamFile[] = [];
  /** Paths not yet unlinked (until `release`: a process starter may open them by name). */
  private readonly pathsLeft: string[] = [];
  private readonly allPaths: string[] = [];
  private lateScanAt = 0;
  private disposed = false;
  private poll: NodeJS.Timeout | undefined;

  constructor(
    dir: string,
    private readonly onChange: () => void,
    watchFn: WatchFile = watchFile,
    private readonly discardSlack = DISCARD_SLACK,
  ) {
    try {
      for (const stream of ['stdout', 'stderr'] as const) {
        const path = join(dir, stream);
        this.allPaths.push(path);
        const childFd = openSync(path, 'a', 0o600);
        const f: StreamFile = { stream, fd: -1, childFd, watcher: undefined, pos: 0, keepEnd: 0, dev: 0, ino: 0, reading: false, gen: 0, stuckAt: -1 };
        this.files.push(f);
        f.fd = openSync(path, 'r+');
        const st = fstatSync(f.fd);
        f.dev = st.dev;
        f.ino = st.ino;
        // Watched by inode: the watch outlives the unlink, as do both descriptors. A watch that
        // cannot be had (or fails later) is replaced by looking at the files every POLL_MS.
        try {
          f.watcher = watchFn(path, onChange);
          f.watcher.on('error', () => this.startPolling());
        } catch {
          this.startPolling();
        }
        this.pathsLeft.push(path);
      }
    } catch (err) {
      this.dispose();
      throw err;
    }
  }

  private startPolling(): void {
    if (this.poll || this.disposed) return;
    this.poll = setInterval(() => this.onChange(), POLL_MS);
    this.poll.unref();
  }

  /** True when the files are looked at on a timer (no inotify watch). */
  get polling(): boolean {
    return this.poll !== undefined;
  }

  /** The program's stdout and stderr descriptors (for spawn's stdio). */
  get childFds(): [number, number] {
    return [this.files[0]!.childFd, this.files[1]!.childFd];
  }

  /** Our readable descriptors, for the log. */
  get readFds(): Record<OutputStream, number> {
    return { stdout: this.files[0]!.fd, stderr: this.files[1]!.fd };
  }

  /** The files' paths (stdout, stderr), in the run's private folder, until `release`. */
  get paths(): [string, string] {
    return [this.allPaths[0]!, this.allPaths[1]!];
  }

  /**
   * The program has the files open (or failed to start): their names go — nothing is left on
   * disk to clean, even after a crash, and no path exists for anyone to read them — and so do
   * our copies of its descriptors.
   */
  release(): void {
    this.unlink();
    this.closeChildFds();
  }

  /** The files' names go (the files stay, open). */
  unlink(): void {
    for (const path of this.pathsLeft.splice(0)) {
      try {
        unlinkSync(path);
      } catch {
        /* gone with its folder */
      }
    }
  }

  /** Our copies of the program's descriptors go. */
  closeChildFds(): void {
    for (const f of this.files) {
      if (f.childFd >= 0) closeSync(f.childFd);
      f.childFd = -1;
    }
  }

  /**
   * Read what the program wrote since the last time into the log, here and now (the run's end,
   * tests; live output goes through readAsync). `aheadUntil`: a connection reads behind, so past
   * this offset the log grows only once a file's unread part is large, and what is read past it
   * is indexed, not cached (the connection will read it back when it gets there). `final`: the
   * program is gone — read to the end, an unfinished last character included (repaired),
   * whatever `aheadUntil`.
   */
  drain(log: OutputLog, aheadUntil: number, final: boolean): void {
    if (this.disposed) return;
    for (const f of this.files) {
      // A read under way (readAsync) starts where this one does: it is dropped when it lands.
      f.gen++;
      while (!log.truncated) {
        const unread = fstatSync(f.fd).size - f.pos;
        const ahead = log.end >= aheadUntil;
        if (unread <= 0 || (ahead && !final && unread < BACKLOG_BYTES)) break;
        const want = readSize(log, unread);
        const buf = log.readBuffer(want);
        const n = readSync(f.fd, buf, 0, want, f.pos);
        if (n <= 0) break;
        if (!this.take(f, log, buf, n, unread, final, ahead)) break;
      }
      if (log.truncated) this.discard(f, log, final);
    }
  }

  /**
   * Like `drain` (not final), but off the event loop: each file with something to read gets one
   * read in libuv's thread pool, so the copy out of the page cache runs beside the loop (which
   * meanwhile sends what the last read brought). At most one read per file is under way;
   * `onRead(progress)` runs on the loop once a read has been indexed (progress: the log took
   * something). Returns true when a read is under way.
   */
  readAsync(log: OutputLog, aheadUntil: number, onRead: (progress: boolean) => void): boolean {
    if (this.disposed) return false;
    let busy = false;
    for (const f of this.files) {
      if (f.reading) {
        busy = true;
        continue;
      }
      if (log.truncated) {
        this.discard(f, log, false);
        continue;
      }
      const size = fstatSync(f.fd).size;
      const unread = size - f.pos;
      const ahead = log.end >= aheadUntil;
      if (unread <= 0 || size === f.stuckAt || (ahead && unread < BACKLOG_BYTES)) continue;
      const want = readSize(log, unread);
      const buf = log.readBuffer(want);
      const { gen, pos, fd } = f;
      f.reading = true;
      busy = true;
      read(fd, buf, 0, want, pos, (err, n) => {
        f.reading = false;
        if (this.disposed) {
          // Disposed meanwhile: the descriptor was left open for this read (its number must not be reused under it).
          close(fd, ignore);
          return;
        }
        if (err || n <= 0 || f.gen !== gen || f.pos !== pos) {
          log.recycle(buf);
          return onRead(false);
        }
        const before = f.pos;
        this.take(f, log, buf, n, unread, false, ahead);
        if (f.pos === before) f.stuckAt = size;
        if (log.truncated) this.discard(f, log, false);
        onRead(f.pos !== before);
      });
    }
    return busy;
  }

  /**
   * Index one read: `n` bytes read at `f.pos` into `buf`, where `unread` bytes were. Returns false
   * when nothing more can be taken now (all that was there, or an unfinished last character).
   */
  private take(f: StreamFile, log: OutputLog, buf: Buffer, n: number, unread: number, final: boolean, ahead: boolean): boolean {
    // All that was there: nothing more to read now (and, when final, ever).
    const atEnd = n >= unread;
    // An unfinished last character waits for the rest (it is in the file), unless nothing more will come.
    const complete = final && atEnd ? n : incompleteTail(buf.subarray(0, n));
    if (complete === 0) {
      log.recycle(buf);
      return false;
    }
    const piece = buf.subarray(0, complete);
    if (isUtf8(piece)) {
      const kept = log.appendFile(f.stream, f.pos, piece, !ahead);
      if (kept > 0) f.keepEnd = f.pos + kept;
      if (ahead) log.recycle(buf);
    } else {
      // Not UTF-8 (a program writing binary): the repaired text is kept in memory.
      log.append(f.stream, Buffer.from(piece.toString('utf8'), 'utf8'));
      log.recycle(buf);
    }
    f.pos += complete;
    return !atEnd;
  }

  /** True when a file holds more than an unfinished last character the log has not read. */
  unread(): boolean {
    if (this.disposed) return false;
    for (const f of this.files) if (fstatSync(f.fd).size - f.pos > 3) return true;
    return false;
  }

  /** Past the cap: count what was written since, and cut the file back to its kept part. */
  private discard(f: StreamFile, log: OutputLog, final: boolean): void {
    const size = fstatSync(f.fd).size;
    if (size > f.pos) {
      log.drop(size - f.pos);
      f.pos = size;
      f.gen++;
    }
    if (f.pos - f.keepEnd > this.discardSlack || (final && f.pos > f.keepEnd)) {
      // What the program writes between the fstat and this is not counted (droppedBytes is a floor).
      ftruncateSync(f.fd, f.keepEnd);
      f.pos = f.keepEnd;
      f.gen++;
    }
  }

  /**
   * The run has finished and something still writes its output (a process that left the session):
   * cut the files back and kill the writers.
   */
  lateWrite(): void {
    if (this.disposed) return;
    let grew = false;
    for (const f of this.files) {
      const size = fstatSync(f.fd).size;
      if (size > f.keepEnd) {
        grew = true;
        ftruncateSync(f.fd, f.keepEnd);
        f.pos = f.keepEnd;
        f.gen++;
      }
    }
    const now = Date.now();
    if (!grew || now - this.lateScanAt < LATE_SCAN_MS) return;
    this.lateScanAt = now;
    for (const pid of this.writers()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }

  /** Processes (of ours: /proc shows no others' descriptors) holding one of the files open. */
  private writers(): number[] {
    const found: number[] = [];
    let pids: string[];
    try {
      pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
    } catch {
      return found;
    }
    for (const p of pids) {
      const pid = Number(p);
      if (pid === process.pid) continue;
      let fds: string[];
      try {
        fds = readdirSync(`/proc/${p}/fd`);
      } catch {
        continue;
      }
      for (const fd of fds) {
        try {
          const st = statSync(`/proc/${p}/fd/${fd}`);
          if (this.files.some((f) => f.ino === st.ino && f.dev === st.dev)) {
            found.push(pid);
            break;
          }
        } catch {
          /* closed meanwhile */
        }
      }
    }
    return found;
  }

  dispose(): void {
    if (this.disposed) return;
    this.unlink();
    // Something still writing (a process that left the session) goes with the run's output.
    this.lateScanAt = 0;
    try {
      this.lateWrite();
    } catch {
      /* a descriptor already failed: nothing to cut back */
    }
    this.disposed = true;
    clearInterval(this.poll);
    this.poll = undefined;
    for (const f of this.files) {
      f.watcher?.close();
      f.watcher = undefined;
      // Off the event loop: the last close of an unlinked file frees its page cache (~5 ms per
      // 100 MB), which would hold up whatever the loop does next (another run's exec.completed).
      // A read under way (readAsync) closes it when it lands.
      if (f.fd >= 0 && !f.reading) close(f.fd, ignore);
      if (f.childFd >= 0) close(f.childFd, ignore);
      f.fd = -1;
      f.childFd = -1;
    }
  }
}
