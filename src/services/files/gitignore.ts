import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface Rule {
  re: RegExp;
  negate: boolean;
  dirOnly: boolean;
}

/** Translate one gitignore glob (already stripped of '!' and trailing '/') to a regex. */
function globToRegex(glob: string, anchored: boolean): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const before = i === 0 || glob[i - 1] === '/';
        const after = glob[i + 2] === '/' || i + 2 === glob.length;
        if (before && after) {
          if (i + 2 === glob.length) re += '.*';
          else re += '(?:.*/)?';
          i += glob[i + 2] === '/' ? 2 : 1;
          continue;
        }
        re += '[^/]*';
        i++;
        continue;
      }
      re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        let cls = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
        if (cls.startsWith('!')) cls = '^' + cls.slice(1);
        re += `[${cls}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < glob.length) {
      re += glob[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${anchored ? '' : '(?:.*/)?'}${re}$`);
}

/** Parse a .gitignore file's text into rules matched against paths relative to its folder. */
export function parseGitignore(text: string): Rule[] {
  const rules: Rule[] = [];
  for (let line of text.split(/\r?\n/)) {
    if (!line || line.startsWith('#')) continue;
    line = line.replace(/(?<!\\)\s+$/, '');
    if (!line) continue;
    let negate = false;
    if (line.startsWith('!')) {
      negate = true;
      line = line.slice(1);
    } else if (line.startsWith('\\!') || line.startsWith('\\#')) line = line.slice(1);
    let dirOnly = false;
    if (line.endsWith('/')) {
      dirOnly = true;
      line = line.slice(0, -1);
    }
    const anchored = line.includes('/');
    if (line.startsWith('/')) line = line.slice(1);
    if (!line) continue;
    rules.push({ re: globToRegex(line, anchored), negate, dirOnly });
  }
  return rules;
}

/** Last matching rule wins; undefined when no rule of this file speaks about the path. */
export function matchRules(rules: readonly Rule[], relPath: string, isDir: boolean): boolean | undefined {
  let result: boolean | undefined;
  for (const r of rules) {
    if (r.dirOnly && !isDir) continue;
    if (r.re.test(relPath)) result = !r.negate;
  }
  return result;
}

/**
 * .gitignore files of a tree, read lazily and cached by mtime. `ignored(rel, isDir)` applies
 * every .gitignore from the root down to the path's folder (deeper files override), the way git
 * does for untracked files. `.git` itself is always ignored.
 */
export class GitignoreCache {
  private readonly cache = new Map<string, { mtimeMs: number; rules: Rule[] }>();

  constructor(private readonly root: string) {}

  private async rulesOf(dirRel: string): Promise<Rule[]> {
    const file = join(this.root, dirRel, '.gitignore');
    // Synchronous: one cached stat per folder level on every listing (see file-service.ts).
    const st = statSync(file, { throwIfNoEntry: false });
    if (!st) {
      this.cache.delete(dirRel);
      return [];
    }
    const hit = this.cache.get(dirRel);
    if (hit && hit.mtimeMs === st.mtimeMs) return hit.rules;
    let text = '';
    try {
      // only a regular file is read (a FIFO named .gitignore would block the server)
      if (st.isFile()) text = readFileSync(file, 'utf8');
    } catch {
      // unreadable .gitignore: no rules
    }
    const rules = parseGitignore(text);
    this.cache.set(dirRel, { mtimeMs: st.mtimeMs, rules });
    return rules;
  }

  /** A matcher for the entries of one folder (workspace-relative, '' = root). */
  async forDir(dirRel: string): Promise<(name: string, isDir: boolean) => boolean> {
    const parts = dirRel ? dirRel.split('/') : [];
    const layers: { base: string; rules: Rule[] }[] = [];
    for (let i = 0; i <= parts.length; i++) {
      const base = parts.slice(0, i).join('/');
      const rules = await this.rulesOf(base);
      if (rules.length) layers.push({ base, rules });
    }
    return (name, isDir) => {
      if (name === '.git') return true;
      const full = dirRel ? `${dirRel}/${name}` : name;
      let ignored = false;
      for (const { base, rules } of layers) {
        const rel = base ? full.slice(base.length + 1) : full;
        const m = matchRules(rules, rel, isDir);
        if (m !== undefined) ignored = m;
      }
      return ignored;
    };
  }
}
