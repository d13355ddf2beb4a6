import Database from 'better-sqlite3';
import { join } from 'node:path';
import { ensureSelfIgnoringDir } from './state-dir.js';

/**
 * Open (creating) `<dir>/<file>` the way every icpy store does: the folder ignores itself in git
 * (`.gitignore` of `*`), WAL with synchronous=NORMAL (durable once a write returns, survives a
 * process crash), and a 2 s busy timeout for a second connection to the same file.
 */
export function openDatabase(dir: string, file: string): Database.Database {
  ensureSelfIgnoringDir(dir);
  const db = new Database(join(dir, file));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 2000');
  return db;
}
