import { randomBytes } from 'node:crypto';
import {
  open as fsOpen,
  closeSync,
  constants,
  createReadStream,
  createWriteStream,
  fchmodSync,
  fstatSync,
  lstatSync,
  openSync,
  readSync,
  statSync,
  unlinkSync,
  writeSync,
  type BigIntStats,
} from 'node:fs';
import { chmod, copyFile, cp, lstat, mkdir, open, readdir, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, pipeline as pipeStreams, type Readable } from 'node:stream';
import type { EventSource } from '../../core/broker/index.js';
import { IcpyError } from '../../core/errors.js';
import { versionOf } from './file-version.js';
import { GitignoreCache } from './gitignore.js';
import { PathGuard, STATE_DIR, type ResolvedPath } from './path-guard.js';

export type EntryType = 'file' | 'dir' | 'symlink' | 'other';

export interface FileStat {
  path: string;
  name: string;
  type: EntryType;
  size: number;
  mtime: number;
  mode: number;
  version: string;
  /** True when the path itself is a symlink (type then describes its target). */
  symlink: boolean;
}

export interface DirEntry {
  name: string;
  path: string;
  type: EntryType;
  size: number;
  mtime: number;
  symlink: boolean;
}

export interface ReadResult {
  path: string;
  content: string;
  encoding: 'utf8' | 'base64';
  size: number;
  version: string;
  mtime: number;
  offset: number;
  length: number;
  /** True when bytes after offset+length remain. */
  truncated: boolean;
}

export interface WriteResult {
  path: string;
  version: string;
  size: number;
  mtime: number;
  created: boolean;
}

export interface FileServiceOptions {
  /** Largest byte count a single files.read returns (use ranges or HTTP GET beyond). */
  maxReadBytes?: number;
  /** Told about every change icpy makes, before it happens, so watcher events carry its source. */
  onLocalChange?: (realPaths: string[], source: EventSource) => void;
}

const DEFAULT_MAX_READ = 16 * 1024 * 1024;
/**
 * Contents up to this size are read and written with synchronous calls: for page-cached files
 * that is a few microseconds in the kernel, where each async call pays a trip through libuv's
 * thread pool (and the thread pool has only 4 threads for every client). Larger contents stream.
 */
const SYNC_IO_MAX = 256 * 1024;

/**
 * Flags for every open of a file to read. O_NONBLOCK: opening a FIFO must never wait for a writer
 * (a synchronous open would stall the whole server; an async one a thread-pool thread); such
 * files are then refused by checkRegular. It changes nothing for regular files.
 */
const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/** Only regular files are read: folders, FIFOs, sockets and devices are refused. */
function checkRegular(st: BigIntStats, path: string): void {
  if (st.isFile()) return;
  if (st.isDirectory()) throw new IcpyError('IS_A_DIRECTORY', `'${path}' is a folder`, { path });
  throw new IcpyError('NOT_A_FILE', `'${path}' is not a regular file (a FIFO, socket or device), so it cannot be read`, { path });
}

/**
 * Everything the files.* methods do to the disk. Paths are workspace-relative strings checked
 * by PathGuard; writes are atomic (temp file in the same folder, fsync-free rename) and keep the
 * old file's mode; versions come from one fstat of the bytes actually read or written.
 */
export class FileService {
  readonly guard: PathGuard;
  readonly ignores: GitignoreCache;
  private readonly maxReadBytes: number;
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    root: string,
    private readonly options: FileServiceOptions = {},
  ) {
    this.guard = new PathGuard(root);
    this.ignores = new GitignoreCache(this.guard.realRoot);
    this.maxReadBytes = options.maxReadBytes ?? DEFAULT_MAX_READ;
  }

  private note(paths: string[], source: EventSource | undefined): void {
    if (source) this.options.onLocalChange?.(paths, source);
  }

  /** Serialize writers of one real path, so check-version-then-rename is not interleaved. */
  private async locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    }
  }

  async stat(path: string): Promise<FileStat> {
    const r = await this.guard.resolve(path);
    const st = statSyncOrThrow(r.real, path);
    // The real path equal to the named one means no symlink anywhere on it: no lstat needed.
    const isLink = r.real !== r.abs && (lstatSync(r.abs, { throwIfNoEntry: false })?.isSymbolicLink() ?? false);
    return toStat(r.rel, st, isLink);
  }

  /** Version of the file now (undefined when it does not exist). */
  async currentVersion(real: string): Promise<string | undefined> {
    try {
      return versionOf(await stat(real, { bigint: true }));
    } catch {
      return undefined;
    }
  }

  async list(
    path: string,
    opts: { hidden?: boolean; ignored?: boolean; limit?: number; cursor?: string } = {},
  ): Promise<{ path: string; entries: DirEntry[]; nextCursor?: string; total: number }> {
    const r = await this.guard.resolve(path);
    const st = statSyncOrThrow(r.real, path);
    if (!st.isDirectory()) throw new IcpyError('NOT_A_DIRECTORY', `'${path}' is not a folder`, { path });
    const dirents = await readdir(r.real, { withFileTypes: true });
    const isIgnored = opts.ignored ? undefined : await this.ignores.forDir(this.guard.relOfReal(r.real));
    const keep = dirents.filter((d) => {
      if (!opts.hidden && d.name.startsWith('.')) return false;
      if (isIgnored && isIgnored(d.name, d.isDirectory())) return false;
      return true;
    });
    const keyed = keep.map((d) => ({ d, key: `${d.isDirectory() ? 0 : 1}${d.name}` }));
    keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    let start = 0;
    if (opts.cursor) {
      const c = opts.cursor;
      start = keyed.findIndex((k) => k.key > c);
      if (start < 0) start = keyed.length;
    }
    const limit = opts.limit ?? 1000;
    const page = keyed.slice(start, start + limit);
    const prefix = r.rel ? r.rel + '/' : '';
    // One synchronous stat per entry: cheaper than 1,000 thread-pool round trips (see SYNC_IO_MAX).
    const entries = page.map(({ d }): DirEntry => {
      const full = join(r.real, d.name);
      let type: EntryType = d.isDirectory() ? 'dir' : d.isFile() ? 'file' : d.isSymbolicLink() ? 'symlink' : 'other';
      let size = 0;
      let mtime = 0;
      try {
        const s = statSync(full, { throwIfNoEntry: false });
        if (s) {
          if (d.isSymbolicLink()) type = s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other';
          size = s.isFile() ? s.size : 0;
          mtime = s.mtimeMs;
        }
      } catch {
        // unreadable entry: keep what readdir said
      }
      return { name: d.name, path: prefix + d.name, type, size, mtime: Math.floor(mtime), symlink: d.isSymbolicLink() };
    });
    const more = start + limit < keyed.length;
    return { path: r.rel, entries, total: keyed.length, ...(more ? { nextCursor: keyed[start + limit - 1]!.key } : {}) };
  }

  /**
   * `reserve` is called with the byte count before a read that is not small (over 256 KiB, read
   * asynchronously) and may wait; its lease is released when the result has been built.
   */
  async read(
    path: string,
    opts: { encoding?: 'utf8' | 'base64' | 'auto'; offset?: number; length?: number; reserve?: (bytes: number) => Promise<{ release(): void }> } = {},
  ): Promise<ReadResult> {
    const r = await this.guard.resolve(path);
    const small = this.readSmall(r.real, path, opts);
    if (small) return { path: r.rel, ...small };
    let fh;
    try {
      fh = await open(r.real, READ_FLAGS);
    } catch (err) {
      throw fsError(err, path);
    }
    try {
      const st = await fh.stat({ bigint: true });
      checkRegular(st, path);
      const size = Number(st.size);
      const offset = Math.min(opts.offset ?? 0, size);
      const want = opts.length ?? size - offset;
      const length = Math.min(want, size - offset);
      if (length > this.maxReadBytes) {
        throw new IcpyError('FILE_TOO_LARGE', `Reading ${length} bytes exceeds the ${this.maxReadBytes}-byte limit of files.read; read a range or use GET /api/files/{path}`, {
          path,
          size,
          limit: this.maxReadBytes,
        });
      }
      const lease = await opts.reserve?.(length);
      try {
        const buf = Buffer.allocUnsafe(length);
        let got = 0;
        while (got < length) {
          const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        return { path: r.rel, ...readResult(got === length ? buf : buf.subarray(0, got), st, offset, opts.encoding) };
      } finally {
        lease?.release();
      }
    } finally {
      await fh.close();
    }
  }

  /** Whole read (or range) of a file up to SYNC_IO_MAX bytes, synchronously; undefined when larger. */
  private readSmall(real: string, path: string, opts: { encoding?: 'utf8' | 'base64' | 'auto'; offset?: number; length?: number }): Omit<ReadResult, 'path'> | undefined {
    let fd: number;
    try {
      fd = openSync(real, READ_FLAGS);
    } catch (err) {
      throw fsError(err, path);
    }
    try {
      const st = fstatSync(fd, { bigint: true });
      checkRegular(st, path);
      const size = Number(st.size);
      const offset = Math.min(opts.offset ?? 0, size);
      const length = Math.min(opts.length ?? size - offset, size - offset);
      if (length > SYNC_IO_MAX) return undefined;
      const buf = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const n = readSync(fd, buf, got, length - got, offset + got);
        if (n === 0) break;
        got += n;
      }
      return readResult(got === length ? buf : buf.subarray(0, got), st, offset, opts.encoding);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Atomic write: bytes go to a temp file beside the target, which then replaces it with one
   * rename, so a reader sees the old file or the new one, never half. `expectedVersion` (a
   * version string, or null for "must not exist yet") turns a stale write into VERSION_CONFLICT.
   * Writes to one path are serialised; a large or streamed body is received into its temp file
   * before the path's turn (a slow upload does not hold up other writers), and the version is
   * checked both before receiving (fail fast) and again right before the rename.
   */
  async write(
    path: string,
    data: Buffer | Readable,
    opts: { expectedVersion?: string | null; mkdirs?: boolean; source?: EventSource } = {},
  ): Promise<WriteResult> {
    const r = await this.guard.resolveWritable(path);
    if (Buffer.isBuffer(data) && data.length <= SYNC_IO_MAX) return this.locked(r.real, () => this.writeSmall(r, path, data, opts));
    this.checkBeforeWrite(r.real, path, opts.expectedVersion);
    if (opts.mkdirs) await this.ensureDir(dirname(r.real), path, opts.source);
    const tmp = tempPathFor(r.real);
    try {
      if (Buffer.isBuffer(data)) {
        const fh = await open(tmp, 'wx', 0o666).catch((err) => {
          throw fsError(err, path);
        });
        try {
          await fh.writeFile(data);
        } finally {
          await fh.close();
        }
      } else {
        await pipeline(data, createWriteStream(tmp, { flags: 'wx', mode: 0o666 })).catch((err) => {
          throw fsError(err, path);
        });
      }
      return await this.locked(r.real, async () => {
        const before = this.checkBeforeWrite(r.real, path, opts.expectedVersion);
        // the temp file was made with the default mode; the old file's mode survives exactly
        if (before) await chmod(tmp, Number(before.mode) & 0o7777);
        this.note([r.real], opts.source);
        await rename(tmp, r.real).catch((err) => {
          throw fsError(err, path);
        });
        const after = await stat(r.real, { bigint: true });
        return writeResult(r.rel, after, !before);
      });
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  }

  /** The target's stat now, after refusing a folder and a stale `expectedVersion`. */
  private checkBeforeWrite(real: string, path: string, expectedVersion: string | null | undefined): BigIntStats | undefined {
    let before: BigIntStats | undefined;
    try {
      before = statSync(real, { bigint: true, throwIfNoEntry: false });
    } catch (err) {
      throw fsError(err, path);
    }
    if (before?.isDirectory()) throw new IcpyError('IS_A_DIRECTORY', `'${path}' is a folder`, { path });
    if (expectedVersion !== undefined) {
      const current = before ? versionOf(before) : null;
      if (current !== expectedVersion) {
        throw new IcpyError('VERSION_CONFLICT', `'${path}' changed since version ${expectedVersion}`, { path, expectedVersion, currentVersion: current });
      }
    }
    return before;
  }

  /** A body of at most SYNC_IO_MAX bytes, within the path's turn: synchronous write, async open and rename. */
  private async writeSmall(
    r: ResolvedPath,
    path: string,
    data: Buffer,
    opts: { expectedVersion?: string | null; mkdirs?: boolean; source?: EventSource },
  ): Promise<WriteResult> {
    const before = this.checkBeforeWrite(r.real, path, opts.expectedVersion);
    if (opts.mkdirs) await this.ensureDir(dirname(r.real), path, opts.source);
    const tmp = tempPathFor(r.real);
    this.note([r.real], opts.source);
    const mode = before ? Number(before.mode) & 0o7777 : 0o666;
    let fd: number | undefined;
    try {
      // Creating the inode also takes the directory's lock: off the main thread too.
      fd = await new Promise<number>((resolve, reject) => fsOpen(tmp, 'wx', mode, (err, f) => (err ? reject(err) : resolve(f))));
      for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
      // open's mode is masked by the umask; fchmod makes the old mode survive exactly (and is
      // skipped when the umask takes nothing away from it, as for the usual 0644 and 022;
      // setuid/setgid/sticky bits always take the fchmod).
      if (before && (mode & (currentUmask() | 0o7000)) !== 0) fchmodSync(fd, mode);
      closeSync(fd);
      fd = undefined;
      // rename waits on the directory's lock and the journal: off the main thread.
      await rename(tmp, r.real);
    } catch (err) {
      if (fd !== undefined) closeSync(fd);
      try {
        unlinkSync(tmp);
      } catch {
        // never created, or already renamed
      }
      throw fsError(err, path);
    }
    const after = statSync(r.real, { bigint: true });
    return writeResult(r.rel, after, !before);
  }

  private async ensureDir(real: string, path: string, source?: EventSource): Promise<void> {
    const missing: string[] = [];
    for (let d = real; !(await exists(d)); d = dirname(d)) missing.push(d);
    if (missing.length) this.note(missing, source);
    await mkdir(real, { recursive: true }).catch((err) => {
      throw fsError(err, path);
    });
  }

  async mkdir(path: string, opts: { recursive?: boolean; source?: EventSource } = {}): Promise<{ path: string; created: boolean }> {
    const r = await this.guard.resolveWritable(path);
    const st = await stat(r.real).catch(() => undefined);
    if (st) {
      if (!st.isDirectory()) throw new IcpyError('FILE_EXISTS', `'${path}' exists and is not a folder`, { path });
      return { path: r.rel, created: false };
    }
    if (opts.recursive ?? true) await this.ensureDir(r.real, path, opts.source);
    else {
      this.note([r.real], opts.source);
      await mkdir(r.real).catch((err) => {
        throw fsError(err, path);
      });
    }
    return { path: r.rel, created: true };
  }

  async delete(path: string, opts: { recursive?: boolean; expectedVersion?: string; source?: EventSource } = {}): Promise<{ path: string }> {
    // The link itself is removed, never its target: resolve the parent, keep the last name.
    const r = await this.resolveEntry(path);
    const st = await lstat(r.real).catch((err) => {
      throw fsError(err, path);
    });
    if (opts.expectedVersion !== undefined) {
      const current = await this.currentVersion(r.real);
      if (current !== opts.expectedVersion) {
        throw new IcpyError('VERSION_CONFLICT', `'${path}' changed since version ${opts.expectedVersion}`, { path, expectedVersion: opts.expectedVersion, currentVersion: current ?? null });
      }
    }
    this.note([r.real], opts.source);
    if (st.isDirectory()) {
      if (opts.recursive) await rm(r.real, { recursive: true, force: true });
      else
        await rmdir(r.real).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOTEMPTY' || err.code === 'EEXIST') {
            throw new IcpyError('DIRECTORY_NOT_EMPTY', `'${path}' is not empty; pass recursive: true`, { path });
          }
          throw fsError(err, path);
        });
    } else await unlink(r.real).catch((err) => {
      throw fsError(err, path);
    });
    return { path: r.rel };
  }

  /** Resolve a path whose last segment is acted on itself (delete/move a symlink, not its target). */
  private async resolveEntry(path: string): Promise<ResolvedPath> {
    const { rel, abs } = this.guard.lexical(path);
    if (rel === '') throw new IcpyError('READ_ONLY_PATH', 'The workspace root itself cannot be changed', { path });
    const parent = await this.guard.resolve(dirname(abs));
    const real = join(parent.real, basename(abs));
    if (this.guard.isStatePath(real) || this.guard.isStatePath(abs)) {
      throw new IcpyError('READ_ONLY_PATH', `${STATE_DIR}/ holds icpy's own state and is not writable through the API`, { path });
    }
    return { rel, abs, real };
  }

  async move(from: string, to: string, opts: { overwrite?: boolean; source?: EventSource } = {}): Promise<{ from: string; to: string }> {
    const a = await this.resolveEntry(from);
    const b = await this.guard.resolveWritable(to);
    await lstat(a.real).catch((err) => {
      throw fsError(err, from);
    });
    if (PathGuard.within(a.real, b.real) && a.real !== b.real) throw new IcpyError('INVALID_PARAMS', `Cannot move '${from}' into itself`, { from, to });
    if (!opts.overwrite && (await existsL(b.real))) throw new IcpyError('FILE_EXISTS', `'${to}' already exists; pass overwrite: true`, { path: to });
    this.note([a.real, b.real], opts.source);
    await rename(a.real, b.real).catch((err) => {
      throw fsError(err, to);
    });
    return { from: a.rel, to: b.rel };
  }

  async copy(from: string, to: string, opts: { overwrite?: boolean; source?: EventSource } = {}): Promise<{ from: string; to: string; skipped?: string[] }> {
    const a = await this.guard.resolve(from);
    const b = await this.guard.resolveWritable(to);
    const st = await statOrThrow(a.real, from);
    if (!st.isFile() && !st.isDirectory()) throw new IcpyError('NOT_A_FILE', `'${from}' is not a regular file or folder (a FIFO, socket or device), so it cannot be copied`, { path: from });
    if (PathGuard.within(a.real, b.real)) throw new IcpyError('INVALID_PARAMS', `Cannot copy '${from}' into itself`, { from, to });
    if (!opts.overwrite && (await existsL(b.real))) throw new IcpyError('FILE_EXISTS', `'${to}' already exists; pass overwrite: true`, { path: to });
    this.note([b.real], opts.source);
    if (st.isDirectory()) {
      // Symlinks are copied as links (verbatimSymlinks) so a copy cannot pull in outside files.
      // FIFOs, sockets and devices inside are not copied (fs.cp would fail half-way) but listed.
      const skipped: string[] = [];
      const filter = async (src: string): Promise<boolean> => {
        const s = await lstat(src);
        if (s.isFile() || s.isDirectory() || s.isSymbolicLink()) return true;
        skipped.push(this.guard.relOfReal(src));
        return false;
      };
      await cp(a.real, b.real, { recursive: true, force: !!opts.overwrite, errorOnExist: !opts.overwrite, verbatimSymlinks: true, filter }).catch((err) => {
        throw fsError(err, to);
      });
      return { from: a.rel, to: b.rel, ...(skipped.length ? { skipped: skipped.sort() } : {}) };
    } else {
      await copyFile(a.real, b.real, opts.overwrite ? 0 : constants.COPYFILE_EXCL).catch((err) => {
        throw fsError(err, to);
      });
    }
    return { from: a.rel, to: b.rel };
  }

  /**
   * For HTTP GET: version and bytes of one open of the file (so the ETag describes exactly the
   * bytes sent). Small files come back as a Buffer, larger ones as a stream of that descriptor.
   */
  async openForRead(
    path: string,
    opts: { contents?: boolean } = {},
  ): Promise<{ real: string; rel: string; size: number; mtime: number; version: string; stream: (range?: { start: number; end: number }) => Readable | Buffer; close: () => void }> {
    const r = await this.guard.resolve(path);
    let fd: number;
    try {
      fd = openSync(r.real, READ_FLAGS);
    } catch (err) {
      throw fsError(err, path);
    }
    let st: BigIntStats;
    let small: Buffer | undefined;
    try {
      st = fstatSync(fd, { bigint: true });
      checkRegular(st, path);
      // Without contents (HEAD, a version lookup) the stat is all that is needed.
      if (opts.contents !== false && st.size <= BigInt(SYNC_IO_MAX)) {
        const buf = Buffer.allocUnsafe(Number(st.size));
        let got = 0;
        while (got < buf.length) {
          const n = readSync(fd, buf, got, buf.length - got, got);
          if (n === 0) break;
          got += n;
        }
        small = buf.subarray(0, got);
      }
    } catch (err) {
      closeSync(fd);
      throw fsError(err, path);
    }
    // The descriptor stays open only for a large file whose bytes will be streamed.
    const bigFd = opts.contents !== false && !small ? fd : undefined;
    if (bigFd === undefined) closeSync(fd);
    const size = small ? small.length : Number(st.size);
    let used = false;
    return {
      real: r.real,
      rel: r.rel,
      size,
      mtime: Math.floor(Number(st.mtimeNs / 1000000n)),
      version: versionOf(st),
      stream: (range) => {
        if (small) return range ? small.subarray(range.start, range.end + 1) : small;
        if (bigFd === undefined) throw new Error('openForRead: opened without contents');
        if (used) throw new Error('openForRead: stream() may be called once');
        used = true;
        // Never past the size the headers announced: a log file that grows while it streams must
        // not overrun Content-Length (the extra bytes would corrupt the next keep-alive response).
        const bytes = createReadStream('', { fd: bigFd, autoClose: true, ...(range ? { start: range.start, end: range.end } : { start: 0, end: size - 1 }) });
        return exactly(bytes, range ? range.end - range.start + 1 : size);
      },
      close: () => {
        if (bigFd !== undefined && !used) closeSync(bigFd);
      },
    };
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function existsL(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    () => false,
  );
}

/**
 * `src`, which must deliver `expected` bytes: a file that shrinks while it streams ends the stream
 * with an error instead of short, so the HTTP response is cut (the client sees an aborted body)
 * rather than left waiting for bytes its Content-Length still promises.
 */
function exactly(src: Readable, expected: number): Readable {
  let seen = 0;
  const out = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      done(null, chunk);
    },
    flush(done) {
      done(seen < expected ? new Error(`The file shrank while it was sent (${seen} of ${expected} bytes)`) : null);
    },
  });
  pipeStreams(src, out, () => undefined); // an error of either destroys both; `out` reports it
  return out;
}

/** What a write answers, from the stat of the renamed file. */
function writeResult(rel: string, after: BigIntStats, created: boolean): WriteResult {
  return { path: rel, version: versionOf(after), size: Number(after.size), mtime: Math.floor(Number(after.mtimeNs / 1000000n)), created };
}

/** The process umask (only this process can change it, and icpy never does): read once. */
let umaskValue = -1;
function currentUmask(): number {
  if (umaskValue < 0) umaskValue = process.umask();
  return umaskValue;
}

const TEMP_PREFIX = randomBytes(2).toString('hex');
let tempCounter = 0;

/** A temp file beside `real` (same folder, so the final rename is atomic); the watcher ignores the pattern. */
function tempPathFor(real: string): string {
  return join(dirname(real), `.${basename(real)}.icpy-${tempSuffix()}.tmp`);
}

/** 12 hex digits, unique within this process (and across processes with high probability). */
function tempSuffix(): string {
  tempCounter = (tempCounter + 1) % 0x100000000;
  return TEMP_PREFIX + tempCounter.toString(16).padStart(8, '0');
}

function statSyncOrThrow(real: string, path: string): BigIntStats {
  try {
    return statSync(real, { bigint: true });
  } catch (err) {
    throw fsError(err, path);
  }
}

async function statOrThrow(real: string, path: string): Promise<BigIntStats> {
  try {
    return await stat(real, { bigint: true });
  } catch (err) {
    throw fsError(err, path);
  }
}

function toStat(rel: string, st: BigIntStats, symlink: boolean): FileStat {
  return {
    path: rel,
    name: rel.split('/').pop() ?? '',
    type: st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other',
    size: st.isFile() ? Number(st.size) : 0,
    mtime: Math.floor(Number(st.mtimeNs / 1000000n)),
    mode: Number(st.mode) & 0o7777,
    version: versionOf(st),
    symlink,
  };
}

/** Map a Node fs error to the icpy error a client understands. */
export function fsError(err: unknown, path: string): unknown {
  if (err instanceof IcpyError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT':
      return new IcpyError('FILE_NOT_FOUND', `'${path}' does not exist`, { path });
    case 'EEXIST':
      return new IcpyError('FILE_EXISTS', `'${path}' already exists`, { path });
    case 'ENOTDIR':
      return new IcpyError('NOT_A_DIRECTORY', `A parent of '${path}' is not a folder`, { path });
    case 'EISDIR':
      return new IcpyError('IS_A_DIRECTORY', `'${path}' is a folder`, { path });
    case 'ENOTEMPTY':
      return new IcpyError('DIRECTORY_NOT_EMPTY', `'${path}' is not empty`, { path });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new IcpyError('FORBIDDEN', `Permission denied for '${path}'`, { path });
    case 'ELOOP':
      return new IcpyError('PATH_OUTSIDE_WORKSPACE', `Too many levels of symbolic links at '${path}'`, { path });
    // fs.cp's own codes: a folder over a file (or the reverse) inside an overwriting copy
    case 'ERR_FS_CP_EEXIST':
    case 'ERR_FS_CP_DIR_TO_NON_DIR':
    case 'ERR_FS_CP_NON_DIR_TO_DIR':
      return new IcpyError('FILE_EXISTS', `${(err as Error).message} (copying to '${path}')`, { path });
    default:
      return err;
  }
}

/**
 * Binary when there is a NUL byte or the bytes are not valid UTF-8. A range cut may split a
 * multi-byte character at either end; that alone does not make it binary.
 */
function looksBinary(bytes: Buffer, partial: boolean): boolean {
  const sample = bytes.subarray(0, 8192);
  if (sample.includes(0)) return true;
  let b = bytes;
  if (partial) {
    let s = 0;
    while (s < 3 && s < b.length && (b[s]! & 0xc0) === 0x80) s++;
    let e = b.length;
    let k = 0;
    while (k < 3 && e > s && (b[e - 1]! & 0xc0) === 0x80) {
      e--;
      k++;
    }
    if (e > s && (b[e - 1]! & 0xc0) === 0xc0) e--;
    b = b.subarray(s, e);
  }
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return false;
  } catch {
    return true;
  }
}

/** The result of reading `bytes` at `offset` of a file with stats `st` (shared by the sync and async paths). */
function readResult(bytes: Buffer, st: BigIntStats, offset: number, requested: 'utf8' | 'base64' | 'auto' | undefined): Omit<ReadResult, 'path'> {
  const size = Number(st.size);
  const got = bytes.length;
  let encoding = requested ?? 'auto';
  if (encoding === 'auto') encoding = looksBinary(bytes, offset > 0 || offset + got < size) ? 'base64' : 'utf8';
  return {
    content: bytes.toString(encoding),
    encoding,
    size,
    version: versionOf(st),
    mtime: Math.floor(Number(st.mtimeNs / 1000000n)),
    offset,
    length: got,
    truncated: offset + got < size,
  };
}
