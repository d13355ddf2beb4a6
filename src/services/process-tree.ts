import { closeSync, openSync, readdirSync, readSync } from 'node:fs';

/**
 * Process groups and sessions, read from /proc: what terminals, runs and language servers use to
 * leave no process behind. A PTY's shell and a run's first process (spawned `detached`) lead a new
 * session (sid = pgid = their pid); everything started from them stays in that session (background
 * jobs too, in process groups of their own) unless it calls setsid itself. Linux reads /proc;
 * elsewhere only the leader's process group is known.
 */

interface ProcStat {
  state: string;
  pgrp: number;
  session: number;
}

/** One buffer for every /proc/N/stat read (a scan reads one file per process of the machine). */
const statBuf = Buffer.allocUnsafe(1024);

function readStat(pid: number): ProcStat | undefined {
  let fd: number;
  try {
    fd = openSync(`/proc/${pid}/stat`, 'r');
  } catch {
    return undefined;
  }
  let n = 0;
  try {
    n = readSync(fd, statBuf, 0, statBuf.length, 0);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
  // comm (field 2) may hold spaces and parentheses (at most 64 bytes): parse after the last ')'.
  const close = statBuf.lastIndexOf(0x29, n - 1);
  if (close < 0) return undefined;
  const f = statBuf.toString('latin1', close + 2, Math.min(n, close + 80)).split(' ', 4);
  if (f.length < 4) return undefined;
  return { state: f[0]!, pgrp: Number(f[2]), session: Number(f[3]) };
}

/** Live (non-zombie) processes whose stat matches `pick`; undefined without /proc. */
function liveProcesses(pick: (stat: ProcStat) => boolean): number[] | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  const out: number[] = [];
  for (const name of entries) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const stat = readStat(Number(name));
    if (stat && stat.state !== 'Z' && pick(stat)) out.push(Number(name));
  }
  return out;
}

/** Every live process of the session `sid`. */
export function sessionMembers(sid: number): number[] {
  return liveProcesses((s) => s.session === sid) ?? [];
}

/**
 * Live members of a process group. A killed process's orphaned children are reaped by init when
 * it gets round to it; a zombie runs nothing, so it does not count. Without /proc, falls back to
 * whether the group can be signalled at all.
 */
export function liveGroupMembers(pgid: number): number[] {
  const found = liveProcesses((s) => s.pgrp === pgid);
  if (found) return found;
  try {
    process.kill(-pgid, 0);
    return [pgid];
  } catch {
    return [];
  }
}

/** True while `pid` exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  const stat = readStat(pid);
  return stat === undefined ? true : stat.state !== 'Z';
}

/**
 * Send `signal` to the session's process group and to every member of the session, never to
 * this server itself. `spare`: one member left out (and then the group is not signalled as a
 * whole), e.g. a wrapper that must live to report. A stopped job ignores SIGHUP until continued,
 * so SIGHUP is followed by SIGCONT. Returns the members found.
 */
export function signalSession(sid: number, signal: NodeJS.Signals, spare?: number): number[] {
  const members = sessionMembers(sid);
  const targets = new Set<number>(members);
  if (spare === undefined) targets.add(-sid);
  else targets.delete(spare);
  targets.delete(process.pid);
  targets.delete(-process.pid);
  for (const pid of targets) {
    try {
      process.kill(pid, signal);
      if (signal === 'SIGHUP' && pid > 0) process.kill(pid, 'SIGCONT');
    } catch {
      /* already gone */
    }
  }
  return members;
}
