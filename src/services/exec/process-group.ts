import { readdirSync, readFileSync } from 'node:fs';

/**
 * A run is started with `detached: true`, so its first process leads a new session and process
 * group (sid = pgid = its pid). Everything it starts stays in that session unless it calls
 * setsid itself (see docs/protocol/exec.md, "Limits": that is the one escape; cgroups would close
 * it but are not available unprivileged). Linux reads /proc; elsewhere only the group is signalled.
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

function readStat(pid: number): { state: string; session: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may hold spaces and parentheses: parse after the last ')'.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: f[0]!, session: Number(f[3]) };
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

/**
 * Send `signal` to every member of the session `sid` except `spare` (and, unless spared, to its
 * process group). Returns the members found.
 */
export function signalSession(sid: number, signal: NodeJS.Signals, spare?: number): number[] {
  const members = sessionMembers(sid);
  const targets = new Set<number>(members);
  if (spare === undefined) targets.add(-sid);
  else targets.delete(spare);
  targets.delete(process.pid);
  for (const pid of targets) {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
  return members;
}
