import { randomBytes } from 'node:crypto';
import {
  read as fsRead,
  closeSync,
  constants,
  createReadStream,
  createWriteStream,
  fchmodSync,
  existsSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  realpathSync,
  renameSync,
  readSync,
  statSync,
  unlinkSync,
  writeSync,
  type BigIntStats,
} from 'node:fs';
import { chmod, copyFile, cp, lstat, mkdir, open, readdir, readlink, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, pipeline as pipeStreams, type Readable } from 'node:stream';
import type { EventSource } from '../../core/broker/index.js';
import { isUtf8 } from 'node:buffer';
import { IcpyError } from '../../core/errors.js';
import { withStringSource } from '../../core/rpc/index.js';
import { largeWork, SLICE_CHARS } from '../../core/turns.js';
import { versionOf } from './file-version.js';
import { fsError, type PathField } from './fs-errors.js';
import { GitignoreCache } from './gitignore.js';
import type { ChangeSink, LocalChange } from './local-changes.js';
import { PathGuard, STATE_DIR, type ResolvedPath } from './path-guard.js';
import { SmallWriter } from './small-writer.js';
import { TreeLock } from './tree-lock.js';
import type { PathRule } from '../../core/principal.js';

export { fsError };

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
  /** Told about every change icpy makes, as it makes it (see ChangeSink). */
  changes?: ChangeSink;
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
/** Returned by a structural step that must run again under the exclusive tree lock. */
const NEEDS_EXCLUSIVE: unique symbol = Symbol('needs exclusive');

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
  /** Held from resolving a call's paths to its last syscall on them (see TreeLock). */
  readonly tree = new TreeLock();
  private stagingReady = false;
  private readonly writer = new SmallWriter();

  constructor(
    root: string,
    private readonly options: FileServiceOptions = {},
  ) {
    this.guard = new PathGuard(root);
    this.ignores = new GitignoreCache(this.guard.realRoot);
    this.maxReadBytes = options.maxReadBytes ?? DEFAULT_MAX_READ;
  }

  /** Stops the writer thread (writes still under way fail). */
  dispose(): void {
    this.writer.dispose();
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
    return this.tree.shared(async () => {
      const r = await this.guard.resolve(path);
      const st = statSyncOrThrow(r.real, path);
      // The real path equal to the named one means no symlink anywhere on it: no lstat needed.
      const isLink = r.real !== r.abs && (lstatSync(r.abs, { throwIfNoEntry: false })?.isSymbolicLink() ?? false);
      return toStat(r.rel, st, isLink);
    });
  }

  /**
   * Resolve a path and open it for reading with no API mutation in between (the tree lock, shared):
   * a folder swapped for an outside symlink by another call cannot redirect the open. Once open,
   * the descriptor reads that file whatever is renamed later.
   */
  private openConfined(path: string): Promise<{ r: ResolvedPath; fd: number }> {
    return this.tree.shared(async () => {
      const r = await this.guard.resolve(path);
      return { r, fd: await this.openToRead(r.real, path) };
    });
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
    opts: { hidden?: boolean; ignored?: boolean; limit?: number; cursor?: string; paths?: PathRule } = {},
  ): Promise<{ path: string; entries: DirEntry[]; nextCursor?: string; total: number }> {
    const { r, dirents } = await this.tree.shared(async () => {
      const r = await this.guard.resolve(path);
      const st = statSyncOrThrow(r.real, path);
      if (!st.isDirectory()) throw new IcpyError('NOT_A_DIRECTORY', `'${path}' is not a folder`, { path });
      return { r, dirents: await readdir(r.real, { withFileTypes: true }) };
    });
    const isIgnored = opts.ignored ? undefined : await this.ignores.forDir(this.guard.relOfReal(r.real));
    const rule = opts.paths;
    const base = r.rel ? r.rel + '/' : '';
    const keep = dirents.filter((d) => {
      if (!opts.hidden && d.name.startsWith('.')) return false;
      if (isIgnored && isIgnored(d.name, d.isDirectory())) return false;
      // Path limits before paging, so pages fill and `total` counts only what the caller may see:
      // allowed entries, and folders on the way to them (a link counts as the folder it leads to).
      if (rule && !rule.allows(base + d.name)) {
        if (!rule.mayContain(base + d.name)) return false;
        if (!d.isDirectory() && !(d.isSymbolicLink() && leadsToDir(join(r.real, d.name)))) return false;
      }
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
    const first = await this.openConfined(path);
    const small = this.readSmall(first.fd, path, opts);
    if (small) return { path: first.r.rel, ...small };
    const { r, fd } = await this.openConfined(path);
    try {
      const st = fstatSync(fd, { bigint: true });
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
          const bytesRead = await readAt(fd, buf, got, length - got, offset + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        return { path: r.rel, ...(await readResultSliced(got === length ? buf : buf.subarray(0, got), st, offset, opts.encoding)) };
      } finally {
        lease?.release();
      }
    } catch (err) {
      throw err instanceof IcpyError ? err : fsError(err, path);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Open a file to read, synchronously (see SYNC_IO_MAX), once the small writes submitted before
   * this read have finished (SmallWriter.readTurn: at once when none is under way). No thread is
   * woken and no syscall made for the wait.
   */
  private async openToRead(real: string, path: string): Promise<number> {
    try {
      const turn = this.writer.readTurn();
      if (turn) await turn;
      return openSync(real, READ_FLAGS);
    } catch (err) {
      throw fsError(err, path);
    }
  }

  /** Whole read (or range) of an open file up to SYNC_IO_MAX bytes, synchronously (closes `fd`); undefined when larger. */
  private readSmall(fd: number, path: string, opts: { encoding?: 'utf8' | 'base64' | 'auto'; offset?: number; length?: number }): Omit<ReadResult, 'path'> | undefined {
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
   * Atomic write: bytes go to a temp file, which then replaces the target with one rename, so a
   * reader sees the old file or the new one, never half. `expectedVersion` (a version string, or
   * null for "must not exist yet") turns a stale write into VERSION_CONFLICT. Writes to one path
   * are serialised. A small body is written, under the shared tree lock, into a temp file beside
   * the target. A large or streamed body is first received into a temp file in `.icpy/tmp/`
   * (outside the tree lock, so a slow upload holds up nobody; that folder cannot be renamed or
   * replaced through the API), and only then takes the lock and the path's turn: the target is
   * resolved again, the version checked again, and the temp file renamed into place.
   */
  async write(
    path: string,
    data: Buffer | Readable,
    opts: { expectedVersion?: string | null; mkdirs?: boolean; source?: EventSource; checkedRename?: boolean } = {},
  ): Promise<WriteResult> {
    if (Buffer.isBuffer(data) && data.length <= SYNC_IO_MAX) {
      return this.tree.shared(async () => {
        const r = await this.guard.resolveWritable(path);
        return this.locked(r.real, () => this.writeSmall(r, path, data, opts));
      });
    }
    // Fail fast, before receiving the body: a folder, a stale version, a missing parent.
    await this.tree.shared(async () => {
      const r = await this.guard.resolveWritable(path);
      this.checkBeforeWrite(r.real, path, opts.expectedVersion);
      if (!opts.mkdirs && !existsSync(dirname(r.real))) throw fsError(Object.assign(new Error(), { code: 'ENOENT' }), path);
    });
    const staged = this.stagingPath();
    try {
      if (Buffer.isBuffer(data)) {
        const fh = await open(staged, 'wx', 0o666).catch((err) => {
          throw fsError(err, path);
        });
        try {
          await fh.writeFile(data);
        } finally {
          await fh.close();
        }
      } else {
        await pipeline(data, createWriteStream(staged, { flags: 'wx', mode: 0o666 })).catch((err) => {
          throw fsError(err, path);
        });
      }
      return await this.tree.shared(async () => {
        const r = await this.guard.resolveWritable(path);
        if (opts.mkdirs) await this.ensureDir(dirname(r.real), path, opts.source);
        return this.locked(r.real, async () => {
          const before = this.checkBeforeWrite(r.real, path, opts.expectedVersion);
          // the temp file was made with the default mode; the old file's mode survives exactly
          if (before) await chmod(staged, Number(before.mode) & 0o7777);
          await this.changing([r.real], async () => {
            const moved = opts.checkedRename ? renameChecked(() => this.checkBeforeWrite(r.real, path, opts.expectedVersion), staged, r.real) : rename(staged, r.real);
            await moved.catch(async (err: NodeJS.ErrnoException) => {
              // a mount inside the workspace: copy beside the target, then rename there
              if (err.code !== 'EXDEV') throw fsError(err, path);
              const tmp = tempPathFor(r.real);
              try {
                await copyFile(staged, tmp, constants.COPYFILE_EXCL);
                if (before) await chmod(tmp, Number(before.mode) & 0o7777);
                await rename(tmp, r.real);
              } catch (e) {
                await unlink(tmp).catch(() => undefined);
                throw fsError(e, path);
              }
            });
            this.publish([this.fileChange(r.real, !before)], opts.source);
          });
          const after = await stat(r.real, { bigint: true });
          return writeResult(r.rel, after, !before);
        });
      });
    } finally {
      await unlink(staged).catch(() => undefined);
    }
  }

  /** A fresh name in `.icpy/tmp/` (created on first use; never a symlink out of the root). */
  private stagingPath(): string {
    const dir = join(this.guard.realRoot, STATE_DIR, 'tmp');
    if (!this.stagingReady) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      this.stagingReady = true;
    }
    if (realpathSync(dir) !== dir) throw new IcpyError('FORBIDDEN', `${STATE_DIR}/tmp is not a plain folder inside the workspace`, {});
    return join(dir, `upload.icpy-${tempSuffix()}.tmp`);
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

  /**
   * A body of at most SYNC_IO_MAX bytes, within the shared tree lock and the path's turn:
   * synchronous create and write (like a small read), then the rename in the thread pool —
   * replacing a file waits on the directory's lock and the journal, and frees the old inode,
   * which can take milliseconds.
   */
  private async writeSmall(
    r: ResolvedPath,
    path: string,
    data: Buffer,
    opts: { expectedVersion?: string | null; mkdirs?: boolean; source?: EventSource; checkedRename?: boolean },
  ): Promise<WriteResult> {
    const before = this.checkBeforeWrite(r.real, path, opts.expectedVersion);
    if (opts.mkdirs) await this.ensureDir(dirname(r.real), path, opts.source);
    const tmp = tempPathFor(r.real);
    const mode = before ? Number(before.mode) & 0o7777 : 0o666;
    let fd: number | undefined;
    const end = this.options.changes?.begin([r.real]);
    try {
      // open's mode is masked by the umask; fchmod makes the old mode survive exactly (and is
      // skipped when the umask takes nothing away from it, as for the usual 0644 and 022;
      // setuid/setgid/sticky bits always take the fchmod).
      const chmod = !!before && (mode & (currentUmask() | 0o7000)) !== 0;
      if (opts.checkedRename) {
        fd = openSync(tmp, 'wx', mode);
        for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
        if (chmod) fchmodSync(fd, mode);
        closeSync(fd);
        fd = undefined;
        this.checkBeforeWrite(r.real, path, opts.expectedVersion);
        renameSync(tmp, r.real);
      } else {
        // One round trip off the main thread per small write (see SmallWriter); reads submitted
        // after it wait for it (see openToRead).
        await this.writer.write({ tmp, target: r.real, data, mode, chmod });
      }
      this.publish([this.fileChange(r.real, !before)], opts.source);
    } catch (err) {
      if (fd !== undefined) closeSync(fd);
      try {
        unlinkSync(tmp);
      } catch {
        // never created, or already renamed
      }
      throw fsError(err, path);
    } finally {
      end?.();
    }
    const after = statSync(r.real, { bigint: true });
    return writeResult(r.rel, after, !before);
  }

  /** Create `real` and its missing parents (caller holds the tree lock), and publish the folders it made. */
  private async ensureDir(real: string, path: string, source: EventSource | undefined): Promise<void> {
    const missing: string[] = [];
    for (let d = real; !existsSync(d); d = dirname(d)) missing.push(d); // existsSync: false for ENOTDIR too, never throws
    if (!missing.length) return;
    await this.changing(missing, async () => {
      try {
        await mkdir(real, { recursive: true });
      } catch (err) {
        throw fsError(err, path);
      } finally {
        const made = missing.filter((d) => existsSync(d)).reverse();
        this.publish(made.map((d) => ({ topic: 'fs.dir.created', real: d, rel: this.guard.relOfReal(d) })), source);
      }
    });
  }

  async mkdir(path: string, opts: { recursive?: boolean; source?: EventSource } = {}): Promise<{ path: string; created: boolean }> {
    return this.tree.shared(async () => {
      const r = await this.guard.resolveWritable(path);
      const st = await stat(r.real).catch(() => undefined);
      if (st) {
        if (!st.isDirectory()) throw new IcpyError('FILE_EXISTS', `'${path}' exists and is not a folder`, { path, field: 'path' });
        return { path: r.rel, created: false };
      }
      if (opts.recursive ?? true) await this.ensureDir(r.real, path, opts.source);
      else {
        await this.changing([r.real], () =>
          mkdir(r.real).catch((err) => {
            throw fsError(err, path);
          }),
        );
        this.publish([{ topic: 'fs.dir.created', real: r.real, rel: this.guard.relOfReal(r.real) }], opts.source);
      }
      return { path: r.rel, created: true };
    });
  }

  async delete(path: string, opts: { recursive?: boolean; expectedVersion?: string; source?: EventSource } = {}): Promise<{ path: string }> {
    return this.structural(async (exclusive) => {
      // The link itself is removed, never its target: resolve the parent, keep the last name.
      const r = await this.resolveEntry(path);
      const st = await lstat(r.real).catch((err) => {
        throw fsError(err, path);
      });
      // Removing a folder or a link changes what other paths resolve to.
      if (!exclusive && (st.isDirectory() || st.isSymbolicLink())) return NEEDS_EXCLUSIVE;
      if (opts.expectedVersion !== undefined) {
        const current = await this.currentVersion(r.real);
        if (current !== opts.expectedVersion) {
          throw new IcpyError('VERSION_CONFLICT', `'${path}' changed since version ${opts.expectedVersion}`, { path, expectedVersion: opts.expectedVersion, currentVersion: current ?? null });
        }
      }
      await this.changing([r.real], async () => {
        if (st.isDirectory()) {
          if (opts.recursive) await rm(r.real, { recursive: true, force: true }).catch((err) => {
            throw fsError(err, path);
          });
          else
            await rmdir(r.real).catch((err: NodeJS.ErrnoException) => {
              if (err.code === 'ENOTEMPTY' || err.code === 'EEXIST') {
                throw new IcpyError('DIRECTORY_NOT_EMPTY', `'${path}' is not empty; pass recursive: true`, { path, field: 'path' });
              }
              throw fsError(err, path);
            });
        } else
          await unlink(r.real).catch((err) => {
            throw fsError(err, path);
          });
        const dir = st.isDirectory();
        this.publish([{ topic: dir ? 'fs.dir.deleted' : 'fs.file.deleted', real: r.real, rel: this.guard.relOfReal(r.real), tree: dir }], opts.source);
      });
      return { path: r.rel };
    });
  }

  /** Resolve a path whose last segment is acted on itself (delete/move a symlink, not its target). */
  private async resolveEntry(path: string, field: PathField = 'path'): Promise<ResolvedPath> {
    const { rel, abs } = this.guard.lexical(path, field);
    if (rel === '') throw new IcpyError('READ_ONLY_PATH', 'The workspace root itself cannot be changed', { path, field });
    if (Buffer.byteLength(basename(abs)) > 255) throw fsError(Object.assign(new Error(), { code: 'ENAMETOOLONG' }), path, field);
    const parent = await this.guard.resolve(dirname(abs), field);
    const real = join(parent.real, basename(abs));
    if (this.guard.isStatePath(real) || this.guard.isStatePath(abs)) {
      throw new IcpyError('READ_ONLY_PATH', `${STATE_DIR}/ holds icpy's own state and is not writable through the API`, { path, field });
    }
    return { rel, abs, real };
  }

  async move(from: string, to: string, opts: { overwrite?: boolean; source?: EventSource } = {}): Promise<{ from: string; to: string }> {
    return this.structural(async (exclusive) => {
      const a = await this.resolveEntry(from, 'from');
      const b = await this.guard.resolveWritable(to, 'to');
      const st = await lstat(a.real).catch((err) => {
        throw fsError(err, from, 'from');
      });
      // Moving a folder or a link changes what other paths resolve to.
      if (!exclusive && (st.isDirectory() || st.isSymbolicLink())) return NEEDS_EXCLUSIVE;
      if (PathGuard.within(a.real, b.real) && a.real !== b.real) throw new IcpyError('INVALID_PARAMS', `Cannot move '${from}' into itself`, { from, to, field: 'to' });
      const existing = await lstat(b.real).catch(() => undefined);
      if (!opts.overwrite && existing) throw new IcpyError('FILE_EXISTS', `'${to}' already exists; pass overwrite: true`, { path: to, field: 'to' });
      if (a.real === b.real) return { from: a.rel, to: b.rel };
      if (dirname(a.real) !== dirname(b.real)) await this.checkLinksStayInside(a.real, b.real, from, 'from');
      await this.changing([a.real, b.real], async () => {
        await rename(a.real, b.real).catch((err) => {
          throw fsError(err, to, 'to');
        });
        const dir = st.isDirectory();
        this.publish(
          [
            { topic: dir ? 'fs.dir.deleted' : 'fs.file.deleted', real: a.real, rel: this.guard.relOfReal(a.real), tree: dir },
            dir ? { topic: 'fs.dir.created', real: b.real, rel: this.guard.relOfReal(b.real), tree: true } : this.fileChange(b.real, !existing),
          ],
          opts.source,
        );
      });
      return { from: a.rel, to: b.rel };
    });
  }

  async copy(from: string, to: string, opts: { overwrite?: boolean; source?: EventSource } = {}): Promise<{ from: string; to: string; skipped?: string[] }> {
    return this.structural(async (exclusive) => {
      const a = await this.guard.resolve(from, 'from');
      const b = await this.guard.resolveWritable(to, 'to');
      const st = await stat(a.real, { bigint: true }).catch((err) => {
        throw fsError(err, from, 'from');
      });
      if (!st.isFile() && !st.isDirectory()) throw new IcpyError('NOT_A_FILE', `'${from}' is not a regular file or folder (a FIFO, socket or device), so it cannot be copied`, { path: from, field: 'from' });
      // A folder's copy places folders and links: that changes what other paths resolve to.
      if (!exclusive && st.isDirectory()) return NEEDS_EXCLUSIVE;
      if (PathGuard.within(a.real, b.real)) throw new IcpyError('INVALID_PARAMS', `Cannot copy '${from}' into itself`, { from, to, field: 'to' });
      const existing = await lstat(b.real).catch(() => undefined);
      if (!opts.overwrite && existing) throw new IcpyError('FILE_EXISTS', `'${to}' already exists; pass overwrite: true`, { path: to, field: 'to' });
      if (st.isDirectory()) {
        await this.checkLinksStayInside(a.real, b.real, from, 'from');
        // Symlinks are copied as links (verbatimSymlinks) so a copy cannot pull in outside files.
        // FIFOs, sockets and devices inside are not copied (fs.cp would fail half-way) but listed.
        const skipped: string[] = [];
        const filter = async (src: string): Promise<boolean> => {
          const s = await lstat(src);
          if (s.isFile() || s.isDirectory() || s.isSymbolicLink()) return true;
          skipped.push(this.guard.relOfReal(src));
          return false;
        };
        await this.changing([b.real], async () => {
          try {
            await cp(a.real, b.real, { recursive: true, force: !!opts.overwrite, errorOnExist: !opts.overwrite, verbatimSymlinks: true, filter });
          } catch (err) {
            throw fsError(err, to, 'to');
          } finally {
            // what was copied is there even when cp failed half-way
            if (existsSync(b.real)) this.publish([{ topic: 'fs.dir.created', real: b.real, rel: this.guard.relOfReal(b.real), tree: true }], opts.source);
          }
        });
        return { from: a.rel, to: b.rel, ...(skipped.length ? { skipped: skipped.sort() } : {}) };
      }
      await this.changing([b.real], async () => {
        await copyFile(a.real, b.real, opts.overwrite ? 0 : constants.COPYFILE_EXCL).catch((err) => {
          throw fsError(err, to, 'to');
        });
        this.publish([this.fileChange(b.real, !existing)], opts.source);
      });
      return { from: a.rel, to: b.rel };
    });
  }

  /**
   * Refuse (PATH_OUTSIDE_WORKSPACE naming the link) to move or copy `src` to `dst` when a symlink
   * at or under it resolves inside the workspace from where it is but would resolve outside from
   * its new place (a relative link moved to another depth). Links that already lead outside stay
   * as they are (every use of them is refused anyway). Runs under the exclusive tree lock.
   */
  private async checkLinksStayInside(src: string, dst: string, path: string, field: PathField): Promise<void> {
    const check = async (link: string): Promise<void> => {
      const target = await readlink(link);
      const moved = join(dst, link.slice(src.length));
      // A target inside the moved tree moves with it: judge it where it is now.
      let there = resolve(dirname(moved), target);
      if (PathGuard.within(dst, there)) there = join(src, there.slice(dst.length));
      const insideNow = await this.guard.realInside(resolve(dirname(link), target));
      if (insideNow === undefined || (await this.guard.realInside(there)) !== undefined) return;
      const rel = this.guard.relOfReal(link);
      throw new IcpyError('PATH_OUTSIDE_WORKSPACE', `The symlink '${rel}' (→ ${target}) would point outside the workspace from its new place; move or copy it by hand, or make it absolute`, {
        path,
        field,
        link: rel,
        target,
      });
    };
    const walk = async (p: string, depth: number): Promise<void> => {
      const st = await lstat(p);
      if (st.isSymbolicLink()) return check(p);
      if (!st.isDirectory() || depth > 256) return;
      for (const e of await readdir(p, { withFileTypes: true })) {
        if (e.isSymbolicLink() || e.isDirectory()) await walk(join(p, e.name), depth + 1);
      }
    };
    await walk(src, 0);
  }

  /**
   * Run a mutation that cannot change what other paths resolve to under the shared tree lock;
   * when it finds it would (it returns NEEDS_EXCLUSIVE, before touching the disk), run it again
   * under the exclusive lock, where it checks everything afresh.
   */
  private async structural<T>(fn: (exclusive: boolean) => Promise<T | typeof NEEDS_EXCLUSIVE>): Promise<T> {
    const first = await this.tree.shared(() => fn(false));
    if (first !== NEEDS_EXCLUSIVE) return first;
    const second = await this.tree.exclusive(() => fn(true));
    if (second === NEEDS_EXCLUSIVE) throw new Error('structural: NEEDS_EXCLUSIVE under the exclusive lock');
    return second;
  }

  /** Tell the watcher icpy is changing these paths while `fn` runs (their native events wait). */
  private async changing<T>(reals: string[], fn: () => Promise<T>): Promise<T> {
    const end = this.options.changes?.begin(reals);
    try {
      return await fn();
    } finally {
      end?.();
    }
  }

  private fileChange(real: string, created: boolean): LocalChange {
    return { topic: created ? 'fs.file.created' : 'fs.file.changed', real, rel: this.guard.relOfReal(real) };
  }

  /** Publish icpy's own changes with their caller as source (nothing without a source). */
  private publish(changes: LocalChange[], source: EventSource | undefined): void {
    if (source && changes.length) this.options.changes?.made(changes, source);
  }

  /**
   * For HTTP GET: version and bytes of one open of the file (so the ETag describes exactly the
   * bytes sent). Small files come back as a Buffer, larger ones as a stream of that descriptor.
   */
  async openForRead(
    path: string,
    opts: { contents?: boolean } = {},
  ): Promise<{ real: string; rel: string; size: number; mtime: number; version: string; stream: (range?: { start: number; end: number }) => Readable | Buffer; close: () => void }> {
    const { r, fd } = await this.openConfined(path);
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

/**
 * `checkedRename`: the version check again and the rename in one synchronous step, so no write
 * by another program can land between them (with the rename in the thread pool that window is its
 * queue wait, milliseconds under load, and a file renamed into place there was replaced unseen).
 * A rename is microseconds on a local disk; this costs the event loop that. Rejects like rename.
 */
async function renameChecked(check: () => void, from: string, to: string): Promise<void> {
  check();
  renameSync(from, to);
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
  return !isUtf8(b);
}

/** The result of reading `bytes` at `offset` of a file with stats `st` (shared by the sync and async paths). */
function readResult(
  bytes: Buffer,
  st: BigIntStats,
  offset: number,
  requested: 'utf8' | 'base64' | 'auto' | undefined,
  content?: (bytes: Buffer, encoding: 'utf8' | 'base64') => string,
): Omit<ReadResult, 'path'> {
  const size = Number(st.size);
  const got = bytes.length;
  const encoding = encodingOf(bytes, offset, size, requested);
  return {
    content: content ? content(bytes, encoding) : bytes.toString(encoding),
    encoding,
    size,
    version: versionOf(st),
    mtime: Math.floor(Number(st.mtimeNs / 1000000n)),
    offset,
    length: got,
    truncated: offset + got < size,
  };
}

function encodingOf(bytes: Buffer, offset: number, size: number, requested: 'utf8' | 'base64' | 'auto' | undefined): 'utf8' | 'base64' {
  const encoding = requested ?? 'auto';
  if (encoding !== 'auto') return encoding;
  return looksBinary(bytes, offset > 0 || offset + bytes.length < size) ? 'base64' : 'utf8';
}

/**
 * readResult for a large read: the bytes are decoded slice by slice, one slice per fair turn
 * (core/turns.ts), so decoding 16 MiB never holds the event loop for long. Slices end on a
 * character boundary (UTF-8) or a multiple of 3 bytes (base64), so the text equals a whole decode.
 */
async function readResultSliced(bytes: Buffer, st: BigIntStats, offset: number, requested: 'utf8' | 'base64' | 'auto' | undefined): Promise<Omit<ReadResult, 'path'>> {
  if (bytes.length <= SLICE_CHARS) return readResult(bytes, st, offset, requested);
  const encoding = encodingOf(bytes, offset, Number(st.size), requested);
  let text = '';
  for (let i = 0; i < bytes.length; ) {
    await largeWork.take();
    let end = Math.min(i + (encoding === 'base64' ? SLICE_CHARS - (SLICE_CHARS % 3) : SLICE_CHARS), bytes.length);
    if (encoding === 'utf8') for (let k = 0; k < 3 && end < bytes.length && end > i + 1 && (bytes[end]! & 0xc0) === 0x80; k++) end--;
    text += bytes.toString(encoding, i, end);
    i = end;
  }
  // The text is a rope of slices; the reply's encoder escapes the bytes instead (no flatten).
  return withStringSource(readResult(bytes, st, offset, encoding, () => text), 'content', bytes, encoding);
}

/** One positional read of an open descriptor, in the thread pool. */
function readAt(fd: number, buf: Buffer, at: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => fsRead(fd, buf, at, length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

/** A symlink whose target is a folder (false when dangling or unreadable). */
function leadsToDir(full: string): boolean {
  try {
    return statSync(full, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch {
    return false;
  }
}
