import type Database from 'better-sqlite3';
import type { Disposable } from '../core/lifecycle.js';
import { openDatabase } from './open-database.js';

/** One recorded call, as the agents service hands it over (its shape is the service's). */
export interface ActivityRow {
  time: number;
  principalId: string;
  agent: string;
  record: unknown;
}

export interface StoredActivity<R> {
  id: number;
  record: R;
}

/** Rows written in one transaction at most; a fuller queue is flushed at once. */
const FLUSH_ROWS = 256;

/**
 * agents.activity in SQLite (WAL): `<dir>/agents.db`, one row per call an agent made, the oldest
 * dropped beyond `maxRows`. Writes are queued and flushed in one transaction every `flushMs` (or
 * at FLUSH_ROWS), so recording costs the call path one array push; reads flush first, so a query
 * sees every call that finished before it. Ids rise by one per row and are never reused: a reader
 * pages forward with "after id".
 */
export class SqliteAgentActivity implements Disposable {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly prune: Database.Statement;
  private readonly pending: ActivityRow[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly writeAll: (rows: ActivityRow[]) => void;

  constructor(
    dir: string,
    private readonly maxRows: number,
    private readonly flushMs = 100,
    file = 'agents.db',
  ) {
    this.db = openDatabase(dir, file);
    this.db.exec(`CREATE TABLE IF NOT EXISTS agent_activity (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      time INTEGER NOT NULL,
      principal_id TEXT NOT NULL,
      agent TEXT NOT NULL,
      record TEXT NOT NULL
    )`);
    this.db.exec('CREATE INDEX IF NOT EXISTS agent_activity_agent ON agent_activity (agent, id)');
    this.db.exec('CREATE INDEX IF NOT EXISTS agent_activity_principal ON agent_activity (principal_id, id)');
    this.insert = this.db.prepare('INSERT INTO agent_activity (time, principal_id, agent, record) VALUES (?, ?, ?, ?)');
    this.prune = this.db.prepare('DELETE FROM agent_activity WHERE id <= ?');
    this.writeAll = this.db.transaction((rows: ActivityRow[]) => {
      let last = 0;
      for (const r of rows) last = Number(this.insert.run(r.time, r.principalId, r.agent, JSON.stringify(r.record)).lastInsertRowid);
      if (last > this.maxRows) this.prune.run(last - this.maxRows);
    });
  }

  /** Queue one row (written within flushMs). */
  add(row: ActivityRow): void {
    if (!this.db.open) return;
    this.pending.push(row);
    if (this.pending.length >= FLUSH_ROWS) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.flushMs);
      this.timer.unref();
    }
  }

  /** Write what is queued now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0 || !this.db.open) return;
    const rows = this.pending.splice(0, this.pending.length);
    this.writeAll(rows);
  }

  /**
   * Rows in id order. With `after`: the first `limit` rows after that id (paging forward); without:
   * the newest `limit`. `who` matches the agent's name or its principal id.
   */
  list<R>(opts: { limit: number; after?: number; who?: string; sinceTime?: number }): { rows: StoredActivity<R>[]; more: boolean } {
    this.flush();
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (opts.after !== undefined) {
      where.push('id > ?');
      args.push(opts.after);
    }
    if (opts.sinceTime !== undefined) {
      where.push('time >= ?');
      args.push(opts.sinceTime);
    }
    if (opts.who !== undefined) {
      where.push('(agent = ? OR principal_id = ?)');
      args.push(opts.who, opts.who);
    }
    const cond = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const forward = opts.after !== undefined || opts.sinceTime !== undefined;
    const sql = `SELECT id, record FROM agent_activity ${cond} ORDER BY id ${forward ? 'ASC' : 'DESC'} LIMIT ?`;
    const got = this.db.prepare(sql).all(...args, opts.limit + 1) as { id: number; record: string }[];
    const more = got.length > opts.limit;
    const rows = got.slice(0, opts.limit).map((r) => ({ id: r.id, record: JSON.parse(r.record) as R }));
    if (!forward) rows.reverse();
    return { rows, more };
  }

  count(): number {
    this.flush();
    return (this.db.prepare('SELECT COUNT(*) AS n FROM agent_activity').get() as { n: number }).n;
  }

  dispose(): void {
    if (!this.db.open) return;
    try {
      this.flush();
    } finally {
      this.db.close();
    }
  }
}
