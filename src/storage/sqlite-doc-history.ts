import type Database from 'better-sqlite3';
import { promisify } from 'node:util';
import { deflate, inflate, constants as zlib } from 'node:zlib';
import type { EventSource } from '../core/broker/index.js';
import type { Disposable } from '../core/lifecycle.js';
import { openDatabase } from './open-database.js';

const deflateAsync = promisify(deflate);
const inflateAsync = promisify(inflate);

/** One recorded version of a file, without its content. */
export interface StoredVersion {
  path: string;
  /** 1, 2, 3… per path; never reused (the newest is never pruned). */
  version: number;
  time: number;
  author: EventSource;
  /** UTF-8 bytes of the content. */
  size: number;
  sha256: string;
  label?: string;
  /** Checkpoint name: a named version is pruned only after every unnamed one. */
  name?: string;
}

export interface NewVersion {
  path: string;
  time: number;
  author: EventSource;
  text: string;
  sha256: string;
  label?: string;
  name?: string;
}

export interface Retention {
  maxVersions: number;
  /** Bytes of stored (compressed) content per path. */
  maxBytes: number;
}

/**
 * Version history of workspace files in SQLite (WAL): `<dir>/history.db`, its own file so a large
 * history never slows the state store. Content is stored zlib-deflated at level 1, compressed on
 * the libuv thread pool: an 8 MiB source file deflates in ~100 ms to about a third (measured),
 * which would block the event loop if done inline and triple the disk if not done at all.
 */
export class SqliteDocHistory implements Disposable {
  private readonly db: Database.Database;
  private readonly stmts;
  private readonly insertTx: (v: NewVersion, stored: Buffer, retention: Retention) => StoredVersion;

  constructor(dir: string, file = 'history.db') {
    this.db = openDatabase(dir, file);
    this.db.exec(`CREATE TABLE IF NOT EXISTS doc_versions (
      path TEXT NOT NULL, version INTEGER NOT NULL, time INTEGER NOT NULL, author TEXT NOT NULL,
      size INTEGER NOT NULL, sha256 TEXT NOT NULL, label TEXT, name TEXT, stored_bytes INTEGER NOT NULL,
      content BLOB NOT NULL, PRIMARY KEY (path, version))`);
    const cols = 'path, version, time, author, size, sha256, label, name';
    this.stmts = {
      latest: this.db.prepare(`SELECT ${cols} FROM doc_versions WHERE path = ? ORDER BY version DESC LIMIT 1`),
      get: this.db.prepare(`SELECT ${cols} FROM doc_versions WHERE path = ? AND version = ?`),
      list: this.db.prepare(`SELECT ${cols} FROM doc_versions WHERE path = ? AND version < ? ORDER BY version DESC LIMIT ?`),
      content: this.db.prepare('SELECT content FROM doc_versions WHERE path = ? AND version = ?'),
      insert: this.db.prepare(
        `INSERT INTO doc_versions (path, version, time, author, size, sha256, label, name, stored_bytes, content)
         VALUES (@path, @version, @time, @author, @size, @sha256, @label, @name, @stored_bytes, @content)`,
      ),
      usage: this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(stored_bytes), 0) AS bytes, MAX(version) AS newest FROM doc_versions WHERE path = ?'),
      // Oldest first, unnamed before named; the newest version is never a candidate.
      victim: this.db.prepare(
        `SELECT version, stored_bytes FROM doc_versions WHERE path = ? AND version < ?
         ORDER BY (name IS NOT NULL), version LIMIT 1`,
      ),
      remove: this.db.prepare('DELETE FROM doc_versions WHERE path = ? AND version = ?'),
      setName: this.db.prepare('UPDATE doc_versions SET name = ? WHERE path = ? AND version = ?'),
    };
    this.insertTx = this.db.transaction((v: NewVersion, stored: Buffer, retention: Retention): StoredVersion => {
      const newest = (this.stmts.latest.get(v.path) as Row | undefined)?.version ?? 0;
      const row: Row & { stored_bytes: number; content: Buffer } = {
        path: v.path,
        version: newest + 1,
        time: v.time,
        author: JSON.stringify(v.author),
        size: Buffer.byteLength(v.text, 'utf8'),
        sha256: v.sha256,
        label: v.label ?? null,
        name: v.name ?? null,
        stored_bytes: stored.length,
        content: stored,
      };
      this.stmts.insert.run(row);
      this.prune(v.path, retention);
      return fromRow(row);
    });
  }

  latest(path: string): StoredVersion | undefined {
    const row = this.stmts.latest.get(path) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  get(path: string, version: number): StoredVersion | undefined {
    const row = this.stmts.get.get(path, version) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** Newest first, versions below `before` (all when absent). */
  list(path: string, opts: { limit: number; before?: number }): StoredVersion[] {
    return (this.stmts.list.all(path, opts.before ?? Number.MAX_SAFE_INTEGER, opts.limit) as Row[]).map(fromRow);
  }

  async content(path: string, version: number): Promise<string | undefined> {
    const row = this.stmts.content.get(path, version) as { content: Buffer } | undefined;
    if (!row) return undefined;
    return (await inflateAsync(row.content)).toString('utf8');
  }

  /** Record a version (numbered after the newest), then prune the path down to `retention`. */
  async add(v: NewVersion, retention: Retention): Promise<StoredVersion> {
    const stored = await deflateAsync(Buffer.from(v.text, 'utf8'), { level: zlib.Z_BEST_SPEED });
    if (!this.db.open) throw new Error('history store is closed');
    return this.insertTx(v, stored, retention);
  }

  setName(path: string, version: number, name: string): StoredVersion | undefined {
    this.stmts.setName.run(name, path, version);
    return this.get(path, version);
  }

  /** Stored bytes and count of a path (tests and docs figures). */
  usage(path: string): { count: number; bytes: number } {
    const u = this.stmts.usage.get(path) as { n: number; bytes: number };
    return { count: u.n, bytes: u.bytes };
  }

  private prune(path: string, retention: Retention): void {
    let { n, bytes, newest } = this.stmts.usage.get(path) as { n: number; bytes: number; newest: number };
    while (n > 1 && (n > retention.maxVersions || bytes > retention.maxBytes)) {
      const victim = this.stmts.victim.get(path, newest) as { version: number; stored_bytes: number } | undefined;
      if (!victim) break;
      this.stmts.remove.run(path, victim.version);
      n--;
      bytes -= victim.stored_bytes;
    }
  }

  dispose(): void {
    if (this.db.open) this.db.close();
  }
}

interface Row {
  path: string;
  version: number;
  time: number;
  author: string;
  size: number;
  sha256: string;
  label: string | null;
  name: string | null;
}

function fromRow(row: Row): StoredVersion {
  return {
    path: row.path,
    version: row.version,
    time: row.time,
    author: JSON.parse(row.author) as EventSource,
    size: row.size,
    sha256: row.sha256,
    ...(row.label !== null ? { label: row.label } : {}),
    ...(row.name !== null ? { name: row.name } : {}),
  };
}
