import type Database from 'better-sqlite3';
import type { EventSource } from '../core/broker/index.js';
import type { Disposable } from '../core/lifecycle.js';
import { openDatabase } from './open-database.js';

/** One persisted key: a JSON value with its version and who wrote it last. */
export interface StoredRecord {
  value: unknown;
  version: number;
  updatedBy: EventSource | null;
  updatedAt: number;
}

/**
 * Embedded key/value state in SQLite (WAL): `<dir>/state.db` (`<dir>/.gitignore` is `*`). Writes are synchronous and
 * durable once the call returns (WAL + synchronous=NORMAL survives a process crash). One
 * namespace per caller, so several services can share the file.
 */
export class SqliteStateStore implements Disposable {
  private readonly db: Database.Database;
  private readonly getStmt: Database.Statement;
  private readonly putStmt: Database.Statement;
  private readonly delStmt: Database.Statement;
  private readonly allStmt: Database.Statement;

  constructor(
    dir: string,
    private readonly namespace: string,
    file = 'state.db',
  ) {
    // The folder ignores itself in git (`.gitignore` of `*`), so state never shows in `git status`.
    this.db = openDatabase(dir, file);
    this.db.exec(`CREATE TABLE IF NOT EXISTS kv (
      ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, version INTEGER NOT NULL,
      updated_by TEXT, updated_at INTEGER NOT NULL, PRIMARY KEY (ns, key))`);
    this.getStmt = this.db.prepare('SELECT key, value, version, updated_by, updated_at FROM kv WHERE ns = ? AND key = ?');
    this.putStmt = this.db.prepare(
      `INSERT INTO kv (ns, key, value, version, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, version = excluded.version,
       updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
    );
    this.delStmt = this.db.prepare('DELETE FROM kv WHERE ns = ? AND key = ?');
    this.allStmt = this.db.prepare('SELECT key, value, version, updated_by, updated_at FROM kv WHERE ns = ?');
  }

  get(key: string): StoredRecord | undefined {
    const row = this.getStmt.get(this.namespace, key) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  load(): Map<string, StoredRecord> {
    const out = new Map<string, StoredRecord>();
    for (const row of this.allStmt.all(this.namespace) as Row[]) out.set(row.key, fromRow(row));
    return out;
  }

  save(key: string, rec: StoredRecord): void {
    this.putStmt.run(this.namespace, key, JSON.stringify(rec.value), rec.version, rec.updatedBy ? JSON.stringify(rec.updatedBy) : null, rec.updatedAt);
  }

  delete(key: string): void {
    this.delStmt.run(this.namespace, key);
  }

  dispose(): void {
    if (this.db.open) this.db.close();
  }
}

interface Row {
  key: string;
  value: string;
  version: number;
  updated_by: string | null;
  updated_at: number;
}

function fromRow(row: Row): StoredRecord {
  return { value: JSON.parse(row.value), version: row.version, updatedBy: row.updated_by ? JSON.parse(row.updated_by) : null, updatedAt: row.updated_at };
}
