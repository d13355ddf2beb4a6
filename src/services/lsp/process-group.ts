import { readdirSync, readFileSync } from 'node:fs';

/**
 * Live (non-zombie) members of a process group. A killed server's orphaned children are reaped
 * by init when it gets round to it (here ~1.4 s); a zombie runs nothing, so it does not count.
 * Without /proc, falls back to whether the group can be signalled at all.
 */
export function liveGroupMembers(pgid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch {
      return [];
    }
  }
  const out: number[] = [];
  for (const name of entries) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    try {
      const text = readFileSync(`/proc/${name}/stat`, 'utf8');
      // comm (field 2) may hold spaces and parentheses: parse after the last ')'.
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) === pgid && f[0] !== 'Z') out.push(Number(name));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}
