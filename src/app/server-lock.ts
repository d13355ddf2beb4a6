import { closeSync, linkSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Disposable } from '../core/lifecycle.js';
import { processAlive } from '../transports/cli/runtime-file.js';

/**
 * One server per workspace folder: `<root>/.icpy/server.lock`, created with O_EXCL and holding
 * `{pid, root, startedAt, url?}` (the URL is added once listening). Two servers on one folder
 * would each keep their own copy of the workspace state and the last to stop would win, so the
 * second refuses with {@link ServerLockedError} naming the first. A lock whose pid is gone
 * (`kill -9`, power loss) is stale and taken over. The lock is per folder, not per process: a
 * second createApp() on the same root in the same process is refused too.
 */
export interface LockHolder {
  pid: number;
  root: string;
  startedAt: number;
  url?: string;
}

export class ServerLockedError extends Error {
  constructor(
    readonly holder: LockHolder | undefined,
    readonly lockFile: string,
  ) {
    super(
      holder
        ? `${holder.root} is already served by icpy (pid ${holder.pid}${holder.url ? `, ${holder.url}` : ', still starting'}); ` +
            `use that server (icpy status), or stop it first`
        : `${lockFile} is held by a server that is starting; try again in a moment`,
    );
    this.name = 'ServerLockedError';
  }
}

export const LOCK_FILE = 'server.lock';
/** An unreadable (half-written) lock younger than this belongs to a server starting right now. */
const STARTING_GRACE_MS = 5000;

function readHolder(path: string): LockHolder | undefined {
  try {
    const h = JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
    return Number.isInteger(h?.pid) && h.pid > 0 ? h : undefined;
  } catch {
    return undefined;
  }
}

/** Is the lock at `path` held by a live server? (undefined holder + true = starting.) */
function held(path: string): { busy: boolean; holder?: LockHolder } {
  const holder = readHolder(path);
  if (holder) return { busy: processAlive(holder.pid), holder };
  try {
    return { busy: Date.now() - statSync(path).mtimeMs < STARTING_GRACE_MS };
  } catch {
    return { busy: false };
  }
}

export interface ServerLock extends Disposable {
  readonly path: string;
  /** Record the URL once listening, so a second server can name it. */
  setUrl(url: string): void;
}

/** Take `<stateDir>/server.lock` for `root`, taking over a stale one; throws ServerLockedError. */
export function acquireServerLock(stateDir: string, root: string): ServerLock {
  const path = join(stateDir, LOCK_FILE);
  const mine: LockHolder = { pid: process.pid, root, startedAt: Date.now() };
  for (let attempt = 0; attempt < 5; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const state = held(path);
      if (state.busy) throw new ServerLockedError(state.holder, path);
      takeOverStale(path);
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(mine) + '\n');
    } finally {
      closeSync(fd);
    }
    return lockHandle(path, mine);
  }
  throw new ServerLockedError(readHolder(path), path);
}

/**
 * Remove a stale lock without removing a fresh one another starting server put there meanwhile:
 * move it aside (atomic), and if what was moved turns out to be live, put it back (link fails
 * if yet another lock appeared, in which case that one stands).
 */
function takeOverStale(path: string): void {
  const aside = `${path}.stale-${process.pid}`;
  try {
    renameSync(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (held(aside).busy) {
    try {
      linkSync(aside, path);
    } catch {
      /* a newer lock stands */
    }
  }
  rmSync(aside, { force: true });
}

function lockHandle(path: string, mine: LockHolder): ServerLock {
  let released = false;
  return {
    path,
    setUrl(url) {
      if (released) return;
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify({ ...mine, url }) + '\n');
      renameSync(tmp, path);
    },
    dispose() {
      if (released) return;
      released = true;
      // Only our own lock: never remove one a later server took over.
      const h = readHolder(path);
      if (h && h.pid === mine.pid && h.startedAt === mine.startedAt) rmSync(path, { force: true });
    },
  };
}
