import type Database from 'better-sqlite3';
import type { Disposable } from '../core/lifecycle.js';
import { openDatabase } from './open-database.js';

/** One agent credential as stored: never the secret, only its SHA-256 (hex). */
export interface StoredCredential {
  id: string;
  name: string;
  /** SHA-256 of the secret part of the token, hex. */
  secretHash: string;
  scopes: string[];
  paths: string[] | undefined;
  createdAt: number;
  expiresAt: number | undefined;
}

/**
 * Agent credentials in SQLite (WAL): `<dir>/credentials.db`, one row per live credential. A
 * revoked credential's row is deleted (its hash goes with it); expired rows are deleted by the
 * service when it prunes. The table is bounded by the service's credential limit.
 */
export class SqliteCredentials implements Disposable {
  private readonly db: Database.Database;
  private readonly insertStmt: Database.Statement;
  private readonly deleteStmt: Database.Statement;
  private readonly allStmt: Database.Statement;

  constructor(dir: string, file = 'credentials.db') {
    this.db = openDatabase(dir, file);
    this.db.exec(`CREATE TABLE IF NOT EXISTS agent_credentials (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      secret_sha256 TEXT NOT NULL,
      scopes TEXT NOT NULL,
      paths TEXT,
      created_at INTEGER NOT NULL,
      expires_at INTEGER
    )`);
    this.insertStmt = this.db.prepare(
      'INSERT INTO agent_credentials (id, name, secret_sha256, scopes, paths, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.deleteStmt = this.db.prepare('DELETE FROM agent_credentials WHERE id = ?');
    this.allStmt = this.db.prepare('SELECT * FROM agent_credentials ORDER BY created_at, id');
  }

  load(): StoredCredential[] {
    const rows = this.allStmt.all() as {
      id: string;
      name: string;
      secret_sha256: string;
      scopes: string;
      paths: string | null;
      created_at: number;
      expires_at: number | null;
    }[];
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      secretHash: r.secret_sha256,
      scopes: JSON.parse(r.scopes) as string[],
      paths: r.paths === null ? undefined : (JSON.parse(r.paths) as string[]),
      createdAt: r.created_at,
      expiresAt: r.expires_at ?? undefined,
    }));
  }

  insert(c: StoredCredential): void {
    this.insertStmt.run(c.id, c.name, c.secretHash, JSON.stringify(c.scopes), c.paths ? JSON.stringify(c.paths) : null, c.createdAt, c.expiresAt ?? null);
  }

  delete(id: string): void {
    this.deleteStmt.run(id);
  }

  dispose(): void {
    if (this.db.open) this.db.close();
  }
}
