import { usageError } from '../cli-error.js';
import type { Command } from '../command.js';
import { formatBytes } from '../output.js';

interface VersionRow {
  version: number;
  time: number;
  author: { kind: string; name: string };
  size: number;
  label?: string;
  name?: string;
}

/** `3` or `v3` → 3. */
function versionArg(arg: string | undefined, usage: string): number {
  const m = /^v?(\d+)$/i.exec(arg ?? '');
  const n = m ? Number(m[1]) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw usageError(`VERSION must be a version number from \`icpy history\` (e.g. 3 or v3), got '${arg ?? ''}'`, usage);
  return n;
}

/** Local time, minutes: 2025-10-09 14:05. */
function when(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export const historyCommand: Command = {
  name: 'history',
  summary: 'versions of a file',
  usage: `Usage: icpy history FILE [--limit N]

List the recorded versions of FILE, newest first: version, time, author (kind:name), size and
label (checkpoint names in quotes). Every save of an open document is a version; see
\`icpy restore\`, and \`icpy call docs.diff path=FILE from=N to=current\` for a diff.
  --limit N   newest N versions (default: all kept)
--json: one docs.history result per page.`,
  options: { limit: { type: 'string' } },
  async run(ctx) {
    const [file, extra] = ctx.positionals;
    if (file === undefined) throw usageError('history: FILE missing', historyCommand.usage);
    if (extra !== undefined) throw usageError('history: one FILE', historyCommand.usage);
    let limit = Infinity;
    if (ctx.values.limit !== undefined) {
      limit = Number(ctx.values.limit);
      if (!Number.isInteger(limit) || limit < 1) throw usageError('history: --limit must be a positive integer');
    }
    const path = await ctx.serverPath(file);
    const rows: VersionRow[] = [];
    let before: number | undefined;
    do {
      const page = (await ctx.http().call('docs.history', { path, limit: Math.min(1000, limit - rows.length), ...(before !== undefined ? { before } : {}) })) as {
        versions: VersionRow[];
        nextBefore?: number;
      };
      if (ctx.out.json) ctx.out.jsonLine(page);
      rows.push(...page.versions);
      before = page.nextBefore;
    } while (before !== undefined && rows.length < limit);
    if (ctx.out.json) return;
    if (!rows.length) {
      process.stderr.write(`icpy: no versions of '${path}' yet (a version is recorded when an open document is saved)\n`);
      return;
    }
    ctx.out.table(
      rows.map((r) => ({
        version: `v${r.version}`,
        time: when(r.time),
        author: `${r.author.kind}:${r.author.name}`,
        size: formatBytes(r.size),
        label: [r.name !== undefined ? `"${r.name}"` : '', r.label ?? ''].filter(Boolean).join(' '),
      })),
      ['version', 'time', 'author', 'size', 'label'],
    );
  },
};

export const restoreCommand: Command = {
  name: 'restore',
  summary: 'make an old version current again',
  usage: `Usage: icpy restore FILE VERSION

Make VERSION (a number from \`icpy history FILE\`, 3 or v3) the current text of FILE. Never
destructive: open editors update in place, the file is saved, and the restore is recorded as a
new version ('restored from vN'); the text it replaced stays in the history.
--json: the docs.restore result.`,
  async run(ctx) {
    const [file, v, extra] = ctx.positionals;
    if (file === undefined || v === undefined) throw usageError('restore: FILE and VERSION', restoreCommand.usage);
    if (extra !== undefined) throw usageError('restore: exactly FILE and VERSION', restoreCommand.usage);
    const version = versionArg(v, restoreCommand.usage);
    const r = (await ctx.http().call('docs.restore', { path: await ctx.serverPath(file), version })) as { path: string; version: number; restoredFrom: number };
    if (ctx.out.json) ctx.out.jsonLine(r);
    else ctx.out.line(`restored ${r.path} to v${r.restoredFrom} (now v${r.version})`);
  },
};

/** `current` or a version number (3, v3). */
function versionOrCurrent(arg: string, usage: string): number | 'current' {
  return arg === 'current' ? 'current' : versionArg(arg, usage);
}

export const diffCommand: Command = {
  name: 'diff',
  summary: 'unified diff between two versions of a file',
  usage: `Usage: icpy diff FILE FROM [TO]

Print the unified diff of FILE from version FROM to version TO (default 'current': the live text,
unsaved typing included, else the file on disk). Versions as \`icpy history\` lists them (3 or
v3) or 'current'. Exit 0 whether or not they differ. --json: the docs.diff result.`,
  async run(ctx) {
    const [file, from, to, extra] = ctx.positionals;
    if (file === undefined || from === undefined) throw usageError('diff: FILE and FROM', diffCommand.usage);
    if (extra !== undefined) throw usageError('diff: FILE FROM [TO]', diffCommand.usage);
    const r = (await ctx.http().call('docs.diff', {
      path: await ctx.serverPath(file),
      from: versionOrCurrent(from, diffCommand.usage),
      to: versionOrCurrent(to ?? 'current', diffCommand.usage),
    })) as { diff: string; identical: boolean };
    if (ctx.out.json) ctx.out.jsonLine(r);
    else if (!r.identical) process.stdout.write(r.diff);
  },
};

export const checkpointCommand: Command = {
  name: 'checkpoint',
  summary: 'name the current text of a file (a named version)',
  usage: `Usage: icpy checkpoint FILE NAME

Record the current text of FILE as a version named NAME (≤ 100 characters; unsaved edits are
saved first). Checkpoints are the last versions retention removes. --json: the version.`,
  async run(ctx) {
    const [file, name, extra] = ctx.positionals;
    if (file === undefined || name === undefined) throw usageError('checkpoint: FILE and NAME', checkpointCommand.usage);
    if (extra !== undefined) throw usageError('checkpoint: exactly FILE and NAME (quote a NAME with spaces)', checkpointCommand.usage);
    const r = (await ctx.http().call('docs.checkpoint', { path: await ctx.serverPath(file), name })) as { path: string; version: number; name: string };
    if (ctx.out.json) ctx.out.jsonLine(r);
    else ctx.out.line(`${r.path} v${r.version} is checkpoint "${r.name}"`);
  },
};
