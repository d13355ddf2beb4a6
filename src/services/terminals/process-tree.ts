import { readdirSync, readFileSync } from 'node:fs';

/**
 * Every process in the session `sid` (a PTY's shell is a session leader, so its pid is the
 * session id of everything started from it, including background jobs in their own process
 * groups). Linux reads /proc; elsewhere only the leader's process group is known.
 */
export function sessionMembers(sid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const name of entries) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const stat = readStat(Number(name));
    if (stat && stat.session === sid && stat.state !== 'Z') out.push(Number(name));
  }
  return out;
}

interface ProcStat {
  state: string;
  pgrp: number;
  session: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may hold spaces and parentheses: parse after the last ')'.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: f[0]!, pgrp: Number(f[2]), session: Number(f[3]) };
  } catch {
    return undefined;
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

/** Send `signal` to the session's process group and to every member of the session. */
export function signalSession(sid: number, signal: NodeJS.Signals): number[] {
  const members = sessionMembers(sid);
  const targets = new Set<number>([-sid, ...members]);
  targets.delete(process.pid);
  targets.delete(-process.pid);
  for (const pid of targets) {
    try {
      process.kill(pid, signal);
      // A stopped job ignores SIGHUP until continued.
      if (signal === 'SIGHUP' && pid > 0) process.kill(pid, 'SIGCONT');
    } catch {
      /* already gone */
    }
  }
  return members;
}
