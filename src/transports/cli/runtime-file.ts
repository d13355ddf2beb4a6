import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

/**
 * A running server advertises itself with one JSON file per process in the runtime directory:
 * `$ICPY_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/icpy`, else `<tmpdir>/icpy-<uid>`. The file is
 * mode 0600 (it holds the token) and is removed on shutdown. The CLI picks the server whose
 * root contains the current folder.
 *
 * Trust: `<tmpdir>/icpy-<uid>` is a predictable name in a shared folder, so another local user
 * can create it first. The server refuses to write into a runtime folder that is a symlink, is
 * not ours or is writable by group/others, and the CLI ignores every runtime file whose folder
 * fails the same test or that is not a regular file of ours with mode 0600 (no group/other bits):
 * a planted file would send the user's requests (and files) to someone else's server.
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

/** Our uid, or undefined where there are none (Windows: no ownership checks). */
function myUid(): number | undefined {
  return typeof process.getuid === 'function' ? process.getuid() : undefined;
}

/** Why `dir` cannot be trusted with runtime files, or undefined when it can (or does not exist). */
export function untrustedRuntimeDir(dir: string): string | undefined {
  let st;
  try {
    st = lstatSync(dir);
  } catch {
    return undefined;
  }
  if (st.isSymbolicLink()) return `${dir} is a symbolic link`;
  if (!st.isDirectory()) return `${dir} is not a folder`;
  const uid = myUid();
  if (uid === undefined) return undefined;
  if (st.uid !== uid) return `${dir} is owned by uid ${st.uid}, not by us (uid ${uid})`;
  if (st.mode & 0o022) return `${dir} is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`;
  return undefined;
}

export function writeRuntimeFile(dir: string, info: RuntimeInfo): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const bad = untrustedRuntimeDir(dir);
  if (bad) {
    throw new Error(`refusing the runtime folder: ${bad}. Remove it, or set ICPY_RUNTIME_DIR (or XDG_RUNTIME_DIR) to a folder only you can write`);
  }
  const path = runtimeFilePath(dir, info.pid);
  // Written whole under a temporary name, then renamed: a reader never sees half a file.
  const tmp = `${path}.tmp`;
  rmSync(tmp, { force: true });
  writeFileSync(tmp, JSON.stringify(info, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  renameSync(tmp, path);
  return path;
}

export function removeRuntimeFile(path: string): void {
  rmSync(path, { force: true });
}

/** Whether a process with this pid exists (EPERM: it exists, under another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The file's text if it is a regular file of ours with no group/other permission bits. */
function readTrusted(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    const uid = myUid();
    if (!st.isFile() || st.size > 64 * 1024) return undefined;
    if (uid !== undefined && (st.uid !== uid || st.mode & 0o077)) return undefined;
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

export interface RuntimeListing {
  servers: RuntimeInfo[];
  /** Set when the folder itself was not trusted (then `servers` is empty). */
  untrusted?: string;
}

/** Runtime files of live servers that we can trust (stale, foreign and loose files are skipped). */
export function readRuntimeDir(dir: string): RuntimeListing {
  const untrusted = untrustedRuntimeDir(dir);
  if (untrusted) return { servers: [], untrusted };
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return { servers: [] };
  }
  const servers: RuntimeInfo[] = [];
  for (const n of names) {
    if (!/^server-\d+\.json$/.test(n)) continue;
    try {
      const text = readTrusted(join(dir, n));
      if (text === undefined) continue;
      const info = JSON.parse(text) as RuntimeInfo;
      if (processAlive(info.pid)) servers.push(info);
    } catch {
      /* partial or foreign file */
    }
  }
  return { servers };
}

export function listRuntimeFiles(dir: string): RuntimeInfo[] {
  return readRuntimeDir(dir).servers;
}
