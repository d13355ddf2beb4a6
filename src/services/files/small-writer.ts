import { Worker } from 'node:worker_threads';
import type { Disposable } from '../../core/lifecycle.js';

/**
 * The disk work of one small atomic write — create the temp file, write it, keep the mode, close,
 * rename it over the target — done synchronously on the writer thread (see MAX_THREADS), so it costs the main thread
 * one message each way (one event-loop turn, like one thread-pool round trip) and none of its
 * syscalls. Done on the main thread, creating the temp file waited on the folder's lock and the
 * journal behind renames in the same folder, and that wait stalled every other client (issue 9,
 * bench/files `mixed`: a CPU profile showed the main thread in synchronous open and write, where
 * a bare Node server does them in the pool beside its main thread). The caller resolved and
 * checked both paths and holds the tree lock (shared) until the answer, exactly as for a rename
 * in the thread pool: the names are used again by the writer as they would be by the pool.
 */
export interface SmallWriteJob {
  /** Temp file beside the target (created with O_EXCL). */
  tmp: string;
  target: string;
  data: Uint8Array;
  /** Mode of the temp file (open's mode is masked by the umask). */
  mode: number;
  /** fchmod the temp file to `mode` exactly before it is renamed. */
  chmod: boolean;
}

/** Runs in the writer thread (CommonJS, evaluated: the same text whether icpy runs from dist/ or from source under vitest). */
const WRITER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
parentPort.on('message', (job) => {
  let fd;
  try {
    fd = fs.openSync(job.tmp, 'wx', job.mode);
    const data = job.data;
    for (let off = 0; off < data.length; ) off += fs.writeSync(fd, data, off, data.length - off);
    if (job.chmod) fs.fchmodSync(fd, job.mode);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(job.tmp, job.target);
    parentPort.postMessage({ id: job.id });
  } catch (err) {
    if (fd !== undefined) try { fs.closeSync(fd); } catch {}
    try { fs.unlinkSync(job.tmp); } catch {}
    parentPort.postMessage({ id: job.id, error: { message: String(err && err.message), code: err && err.code, errno: err && err.errno, syscall: err && err.syscall } });
  }
});
`;

interface Pending {
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Writer threads at the most (started on first need). One: with 4 threads (like the thread
 * pool's) the writes of one folder queued on its lock in the kernel, spinning, and bench/files
 * `mixed` measured 0.27–0.35 ms of server CPU per operation against 0.21–0.26 with one thread, at
 * the same write rate. A second thread is started only if this is raised.
 */
const MAX_THREADS = 1;

/**
 * Writes a thread holds at once. The thread does them back to back, with no wait for the main
 * thread between two; with 8 in flight (4 threads × 2) the writes of bench/files `mixed` were
 * capped by in-flight writes ÷ round trip, about 1,400/s, where the bare Node server did
 * 1,700–1,900/s. The rest wait in one shared queue.
 */
const PER_THREAD = 32;

/**
 * Longest a small read waits for the small writes submitted before it (see readTurn): a disk
 * that stalls the writer delays reads of the page cache by this at most.
 */
export const MAX_READ_TURN_MS = 50;

/**
 * Small writes off the main thread, on a writer thread fed from one queue, and the turn of small
 * reads beside them (readTurn).
 */
export class SmallWriter implements Disposable {
  private readonly threads: WriterThread[] = [];
  private readonly queue: { job: SmallWriteJob; resolve: () => void; reject: (err: Error) => void }[] = [];
  private disposed = false;
  /** Sequence number of the last write submitted (1, 2, …). */
  private submitted = 0;
  /** Writes submitted and not finished, by sequence number. */
  private readonly unfinished = new Set<number>();
  /** Every write up to this sequence number has finished. */
  private finishedUpTo = 0;
  /** Reads waiting for the writes submitted before them, in arrival order (`after` ascending). */
  private readonly readers: { after: number; resolve: () => void }[] = [];
  private readerTimer: NodeJS.Timeout | undefined;

  /** `maxReadTurnMs`: the longest a read waits in readTurn (MAX_READ_TURN_MS). */
  constructor(private readonly maxReadTurnMs = MAX_READ_TURN_MS) {}

  /** Resolves once the target has been replaced; rejects like the fs call that failed (with its `code`), the temp file removed. */
  write(job: SmallWriteJob): Promise<void> {
    if (this.disposed) return Promise.reject(Object.assign(new Error('The file writer is closed'), { code: 'ECANCELED' }));
    const seq = ++this.submitted;
    this.unfinished.add(seq);
    return new Promise<void>((resolve, reject) => {
      // The writer's caller hears first, then the reads that waited for this write go on.
      this.queue.push({
        job,
        resolve: () => {
          resolve();
          this.finished(seq);
        },
        reject: (err) => {
          reject(err);
          this.finished(seq);
        },
      });
      this.pump();
    });
  }

  /**
   * The turn of a small read: one FIFO for small reads and writes, as the thread pool is for
   * every disk call of a bare Node server. A read does not overtake the small writes submitted
   * before it: undefined (go at once) when every one of them has finished — always, without a
   * write backlog — else a promise that resolves when they have, or after `maxReadTurnMs`.
   *
   * Without it a read (a few synchronous page-cache calls) was answered in the turn it arrived,
   * while a write waited for the writer thread and then for the round trip back. With 25 readers
   * and 25 writers over REST (issue 9, bench/files `mixed`) reads took 0.60–0.66 of the
   * server's throughput where a bare Node server gives them 0.52, and writes stayed at
   * 0.71–0.76× the bare server's with p99 1.5–1.7× its. Waiting a fixed number of event-loop
   * turns instead (2 or 4) changed nothing: under load a turn is short.
   */
  readTurn(): Promise<void> | undefined {
    if (this.finishedUpTo === this.submitted) return undefined;
    const after = this.submitted;
    return new Promise<void>((resolve) => {
      this.readers.push({ after, resolve });
      this.readerTimer ??= setTimeout(this.releaseReaders, this.maxReadTurnMs);
    });
  }

  private readonly releaseReaders = (): void => {
    if (this.readerTimer) clearTimeout(this.readerTimer);
    this.readerTimer = undefined;
    for (const r of this.readers.splice(0)) r.resolve();
  };

  private finished(seq: number): void {
    this.unfinished.delete(seq);
    // Writes finish out of order only across threads; the mark moves past every finished one.
    while (this.finishedUpTo < this.submitted && !this.unfinished.has(this.finishedUpTo + 1)) this.finishedUpTo++;
    if (!this.readers.length) return;
    let n = 0;
    while (n < this.readers.length && this.readers[n]!.after <= this.finishedUpTo) n++;
    if (n === 0) return;
    for (const r of this.readers.splice(0, n)) r.resolve();
    if (!this.readers.length && this.readerTimer) {
      clearTimeout(this.readerTimer);
      this.readerTimer = undefined;
    }
  }

  private pump(): void {
    while (this.queue.length) {
      let best: WriterThread | undefined;
      for (const t of this.threads) if (!best || t.busy < best.busy) best = t;
      if (!best || (best.busy > 0 && this.threads.length < MAX_THREADS)) {
        best = new WriterThread();
        this.threads.push(best);
      }
      if (best.busy >= PER_THREAD) return;
      const { job, resolve, reject } = this.queue.shift()!;
      best.write(job).then(
        () => {
          resolve();
          this.pump();
        },
        (err: Error) => {
          reject(err);
          this.pump();
        },
      );
    }
  }

  /** Writes under way off the main thread now (queued or on a thread). */
  get busy(): number {
    let n = this.queue.length;
    for (const t of this.threads) n += t.busy;
    return n;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.threads.splice(0)) t.dispose();
    const err = Object.assign(new Error('The file writer is closed'), { code: 'ECANCELED' });
    for (const q of this.queue.splice(0)) q.reject(err);
    this.releaseReaders();
  }
}

/** One writer thread; it keeps the process alive only while it has writes. */
class WriterThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  get busy(): number {
    return this.pending.size;
  }

  write(job: SmallWriteJob): Promise<void> {
    const w = this.worker ?? this.start();
    const id = this.nextId++;
    // Referenced only while a write is under way: a process that awaits a write must not exit
    // before it lands, and an idle writer must not keep the process alive.
    if (this.pending.size === 0) w.ref();
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ id, ...job });
    });
  }

  private start(): Worker {
    const w = new Worker(WRITER_SOURCE, { eval: true, name: 'icpy-small-writer' });
    w.unref();
    w.on('message', (m: { id: number; error?: { message: string; code?: string; errno?: number; syscall?: string } }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      if (m.error) p.reject(Object.assign(new Error(m.error.message), m.error));
      else p.resolve();
    });
    // A writer that dies fails what it had (its temp files may remain; the watcher ignores them)
    // and is started afresh by the next write.
    const gone = (err: Error) => {
      if (this.worker !== w) return;
      this.worker = undefined;
      this.fail(err);
    };
    w.on('error', gone);
    w.on('exit', (code) => gone(Object.assign(new Error(`The file writer thread exited (${code})`), { code: 'EIO' })));
    this.worker = w;
    return w;
  }

  private fail(err: Error): void {
    const failed = [...this.pending.values()];
    this.pending.clear();
    for (const p of failed) p.reject(err);
  }

  dispose(): void {
    const w = this.worker;
    this.worker = undefined;
    this.fail(Object.assign(new Error('The file writer is closed'), { code: 'ECANCELED' }));
    void w?.terminate();
  }
}
