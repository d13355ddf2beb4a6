import type Database from 'better-sqlite3';
import type { Disposable } from '../core/lifecycle.js';
import { openDatabase } from './open-database.js';

/**
 * exec.history in SQLite (WAL): `<dir>/exec.db`, one row per finished run, the oldest dropped
 * beyond `maxRuns`. Rows are small (a code preview of at most 4096 characters), so inserts run
 * inline on completion. Records are stored as JSON: the storage layer does not know their shape
 * (app/exec-module.ts hands it the exec service's RunRecord).
 */
export class SqliteExecHistory<RunRecord extends { id: string; finishedAt: number }> implements Disposable {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly prune: Database.Statement;
  private readonly page: Database.Statement;
  private readonly first: Database.Statement;

  constructor(
    dir: string,
    private readonly maxRuns: number,
    file = 'exec.db',
  ) {
    this.db = openDatabase(dir, file);
    this.db.exec(`CREATE TABLE IF NOT EXISTS exec_runs (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      id TEXT NOT NULL,
      finished_at INTEGER NOT NULL,
      record TEXT NOT NULL
    )`);
    this.insert = this.db.prepare('INSERT INTO exec_runs (id, finished_at, record) VALUES (?, ?, ?)');
    this.prune = this.db.prepare('DELETE FROM exec_runs WHERE seq <= ?');
    this.page = this.db.prepare('SELECT seq, record FROM exec_runs WHERE seq < ? ORDER BY seq DESC LIMIT ?');
    this.first = this.db.prepare('SELECT seq, record FROM exec_runs ORDER BY seq DESC LIMIT ?');
  }

  add(record: RunRecord): void {
    const info = this.insert.run(record.id, record.finishedAt, JSON.stringify(record));
    const seq = Number(info.lastInsertRowid);
    if (seq > this.maxRuns) this.prune.run(seq - this.maxRuns);
  }

  list(limit: number, before?: number): { runs: (RunRecord & { seq: number })[]; more: boolean } {
    const rows = (before === undefined ? this.first.all(limit + 1) : this.page.all(before, limit + 1)) as { seq: number; record: string }[];
    const more = rows.length > limit;
    return { runs: rows.slice(0, limit).map((r) => ({ ...(JSON.parse(r.record) as RunRecord), seq: r.seq })), more };
  }

  dispose(): void {
    if (this.db.open) this.db.close();
  }
}
