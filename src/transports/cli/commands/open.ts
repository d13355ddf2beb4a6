import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { usageError } from '../cli-error.js';
import type { Command, CommandContext } from '../command.js';

export interface FileRef {
  path: string;
  line?: number;
  column?: number;
}

/** `a.py`, `a.py:12`, `a.py:12:5` (grep/compiler style). A file really named `x:3` wins. */
export function parseFileRef(arg: string, cwd: string): FileRef {
  const m = /^(.+?):(\d+)(?::(\d+))?$/.exec(arg);
  if (!m || existsSync(resolve(cwd, arg))) return { path: arg };
  return { path: m[1]!, line: Number(m[2]), ...(m[3] !== undefined ? { column: Number(m[3]) } : {}) };
}

interface Opened {
  path: string;
  line?: number;
  column?: number;
  alreadyOpen: boolean;
}

/** Opens files in every connected editor (workspace.openFile), one round trip per command. */
export async function openFiles(ctx: CommandContext, args: string[], activate: boolean): Promise<void> {
  const refs = await Promise.all(
    args.map(async (a) => {
      const ref = parseFileRef(a, ctx.cwd);
      return { ...ref, path: await ctx.serverPath(ref.path) };
    }),
  );
  const calls = refs.map((r, i) => ({
    method: 'workspace.openFile',
    params: {
      path: r.path,
      ...(r.line !== undefined ? { line: r.line } : {}),
      ...(r.column !== undefined ? { column: r.column } : {}),
      // Only the last file becomes active.
      ...(!activate || i < refs.length - 1 ? { activate: false } : {}),
    },
  }));
  const outcomes = await ctx.http().batch([...calls, { method: 'connections.list' }]);
  const conns = outcomes.pop()!;
  for (const o of outcomes) if (!o.ok) throw o.error;
  const editors = conns.ok ? (conns.result as { kind: string }[]).filter((c) => c.kind === 'browser').length : undefined;
  if (ctx.out.json) {
    for (const o of outcomes) ctx.out.jsonLine(o.ok ? o.result : undefined);
    return;
  }
  for (const o of outcomes) {
    const r = (o.ok ? o.result : {}) as Opened;
    const where = `${r.path}${r.line !== undefined ? `:${r.line}${r.column !== undefined ? `:${r.column}` : ''}` : ''}`;
    ctx.out.line(`${r.alreadyOpen ? 'revealed' : 'opened'} ${where}`);
  }
  if (editors === 0) process.stderr.write('icpy: no editor is connected right now; the file will be open when one connects\n');
  else if (editors !== undefined) ctx.out.line(ctx.out.dim(`(${editors} editor${editors === 1 ? '' : 's'} connected)`));
}

export const openCommand: Command = {
  name: 'open',
  summary: 'open files in every connected editor',
  usage: `Usage: icpy open FILE[:LINE[:COL]]… [--background]
       icpy FILE[:LINE[:COL]]…

Open files in the editor of every connected browser (workspace.openFile); the last one becomes
the active editor unless --background. LINE and COL are passed as written (as grep -n and
compilers print them). The file need not exist yet.`,
  options: { background: { type: 'boolean' } },
  async run(ctx) {
    if (!ctx.positionals.length) throw usageError('open: FILE missing', openCommand.usage);
    await openFiles(ctx, ctx.positionals, !ctx.values.background);
  },
};
