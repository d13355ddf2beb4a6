import type { EventSource } from '../../core/broker/index.js';

/** One finished run as exec.history lists it: who ran what, where, and how it ended. */
export interface RunRecord {
  id: string;
  language: string;
  path: string | null;
  /** The first CODE_PREVIEW_CHARS characters of `code` (null for `path`). */
  code: string | null;
  args: string[];
  cwd: string;
  sandbox: boolean;
  source: EventSource;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number;
  exitCode: number | null;
  signal: string | null;
  durationMs: number;
  timedOut: boolean;
  cancelled: boolean;
  truncated: boolean;
  cpuMs: number | null;
  maxRssKb: number | null;
  bytes: number;
  error: string | null;
}

export const CODE_PREVIEW_CHARS = 4096;

/** Where exec.history lives (SQLite in the app; the service never sees the database). */
export interface RunHistory {
  /** Record a finished run; the oldest beyond the store's bound are dropped. */
  add(record: RunRecord): void;
  /** Newest first; `before` = a `seq` from an earlier page. */
  list(limit: number, before?: number): { runs: (RunRecord & { seq: number })[]; more: boolean };
}
