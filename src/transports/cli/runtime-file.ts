import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

/**
 * A running server advertises itself with one JSON file per process in the runtime directory:
 * `$ICPY_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/icpy`, else `<tmpdir>/icpy-<uid>`. The file is
 * mode 0600 (it holds the token) and is removed on shutdown. The CLI picks the server whose
 * root contains the current folder.
 */
export interface RuntimeInfo {
  url: string;
  token: string;
  root: string;
  pid: number;
  startedAt: number;
  version: string;
}

export function runtimeDir(override?: string): string {
  if (override) return override;
  if (process.env.ICPY_RUNTIME_DIR) return process.env.ICPY_RUNTIME_DIR;
  if (process.env.XDG_RUNTIME_DIR) return join(process.env.XDG_RUNTIME_DIR, 'icpy');
  let uid: string | number = 'user';
  try {
    uid = userInfo().uid;
  } catch {
    /* no passwd entry */
  }
  return join(tmpdir(), `icpy-${uid}`);
}

export function runtimeFilePath(dir: string, pid = process.pid): string {
  return join(dir, `server-${pid}.json`);
}

export function writeRuntimeFile(dir: string, info: RuntimeInfo): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = runtimeFilePath(dir, info.pid);
  writeFileSync(path, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
  return path;
}

export function removeRuntimeFile(path: string): void {
  rmSync(path, { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runtime files of live servers (stale ones from killed processes are skipped). */
export function listRuntimeFiles(dir: string): RuntimeInfo[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: RuntimeInfo[] = [];
  for (const n of names) {
    if (!/^server-\d+\.json$/.test(n)) continue;
    try {
      const info = JSON.parse(readFileSync(join(dir, n), 'utf8')) as RuntimeInfo;
      if (alive(info.pid)) out.push(info);
    } catch {
      /* partial or foreign file */
    }
  }
  return out;
}
