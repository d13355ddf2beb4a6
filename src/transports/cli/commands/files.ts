import { ExitCode, usageError } from '../cli-error.js';
import type { Command, CommandContext } from '../command.js';
import { formatBytes } from '../output.js';
import { readStdin } from '../stdin.js';

/**
 * Friendly aliases for files.* — paths are relative to the current folder (mapped to the
 * server's root), output reads like the Unix tool of the same name, --json prints the results.
 */

interface Entry {
  name: string;
  path: string;
  type: string;
  size: number;
  mtime: number;
  symlink: boolean;
}

function need(ctx: CommandContext, n: number, what: string, usage: string): string[] {
  if (ctx.positionals.length < n) throw usageError(`${what} missing`, usage);
  return ctx.positionals;
}

export const lsCommand: Command = {
  name: 'ls',
  summary: 'list a folder',
  usage: `Usage: icpy ls [PATH…] [-a] [--ignored] [-l]

List a folder of the workspace (default: the current folder), folders first.
  -a, --all      include dot-files
  --ignored      include entries .gitignore excludes
  -l, --long     type, size and modification time`,
  options: { all: { type: 'boolean', short: 'a' }, ignored: { type: 'boolean' }, long: { type: 'boolean', short: 'l' } },
  async run(ctx) {
    const paths = ctx.positionals.length ? ctx.positionals : ['.'];
    const results: { path: string; entries: Entry[]; total: number }[] = [];
    for (const p of paths) {
      const path = await ctx.serverPath(p);
      const entries: Entry[] = [];
      let cursor: string | undefined;
      let total = 0;
      do {
        const page = (await ctx.http().call('files.list', {
          path,
          ...(ctx.values.all ? { hidden: true } : {}),
          ...(ctx.values.ignored ? { ignored: true } : {}),
          ...(cursor ? { cursor } : {}),
        })) as { path: string; entries: Entry[]; total: number; nextCursor?: string };
        entries.push(...page.entries);
        total = page.total;
        cursor = page.nextCursor;
      } while (cursor);
      results.push({ path, entries, total });
    }
    if (ctx.out.json) {
      for (const r of results) ctx.out.jsonLine(r);
      return;
    }
    const out = ctx.out;
    results.forEach((r, i) => {
      if (results.length > 1) out.line(`${i ? '\n' : ''}${r.path || '.'}:`);
      if (ctx.values.long) {
        out.table(
          r.entries.map((e) => ({
            type: e.symlink ? `${e.type}@` : e.type,
            size: e.type === 'dir' ? '-' : formatBytes(e.size),
            modified: new Date(e.mtime).toISOString().slice(0, 16).replace('T', ' '),
            name: e.type === 'dir' ? e.name + '/' : e.name,
          })),
          ['type', 'size', 'modified', 'name'],
        );
      } else {
        for (const e of r.entries) out.line(e.type === 'dir' ? out.bold(e.name + '/') : e.name);
      }
    });
  },
};

export const catCommand: Command = {
  name: 'cat',
  summary: 'print a file',
  usage: `Usage: icpy cat FILE… [--json]

Print files of the workspace. --json prints each files.read result (content, encoding and the
version to pass to \`icpy write --expect-version\`).`,
  async run(ctx) {
    const files = need(ctx, 1, 'cat: FILE', catCommand.usage);
    for (const f of files) {
      const r = (await ctx.http().call('files.read', { path: await ctx.serverPath(f) })) as { content: string; encoding: 'utf8' | 'base64' };
      if (ctx.out.json) ctx.out.jsonLine(r);
      else process.stdout.write(r.encoding === 'base64' ? Buffer.from(r.content, 'base64') : r.content);
    }
  },
};

export const writeCommand: Command = {
  name: 'write',
  summary: 'write stdin to a file',
  usage: `Usage: icpy write FILE [--expect-version V | --new] [-p] < content

Write stdin to FILE atomically (created if missing). Binary input is sent as base64.
  --expect-version V   fail (exit 1, VERSION_CONFLICT) unless FILE is still at version V —
                       the safe way for an agent to edit: read (icpy cat --json), change, write
  --new                fail (VERSION_CONFLICT) if FILE already exists
  -p, --mkdirs         create missing parent folders
Prints the new version (--json: the files.write result).`,
  options: { 'expect-version': { type: 'string' }, new: { type: 'boolean' }, mkdirs: { type: 'boolean', short: 'p' } },
  async run(ctx) {
    const [file, extra] = need(ctx, 1, 'write: FILE', writeCommand.usage);
    if (extra !== undefined) throw usageError('write: one FILE only (content comes from stdin)', writeCommand.usage);
    if (ctx.values.new && ctx.values['expect-version'] !== undefined) throw usageError('write: --new and --expect-version exclude each other');
    const path = await ctx.serverPath(file!);
    const bytes = await readStdin();
    let content: string;
    let encoding: 'utf8' | 'base64' = 'utf8';
    try {
      content = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      content = bytes.toString('base64');
      encoding = 'base64';
    }
    const r = (await ctx.http().call('files.write', {
      path,
      content,
      ...(encoding === 'base64' ? { encoding } : {}),
      ...(ctx.values['expect-version'] !== undefined ? { expectedVersion: ctx.values['expect-version'] } : {}),
      ...(ctx.values.new ? { expectedVersion: null } : {}),
      ...(ctx.values.mkdirs ? { mkdirs: true } : {}),
    })) as { path: string; version: string; size: number; created: boolean };
    if (ctx.out.json) ctx.out.jsonLine(r);
    else ctx.out.line(`${r.created ? 'created' : 'wrote'} ${r.path} (${r.size} bytes) version ${r.version}`);
  },
};

export const rmCommand: Command = {
  name: 'rm',
  summary: 'delete',
  usage: `Usage: icpy rm PATH… [-r] [--expect-version V]

Delete files, symlinks or folders. A non-empty folder needs -r.`,
  options: { recursive: { type: 'boolean', short: 'r' }, 'expect-version': { type: 'string' } },
  async run(ctx) {
    const paths = need(ctx, 1, 'rm: PATH', rmCommand.usage);
    for (const p of paths) {
      const r = await ctx.http().call('files.delete', {
        path: await ctx.serverPath(p),
        ...(ctx.values.recursive ? { recursive: true } : {}),
        ...(ctx.values['expect-version'] !== undefined ? { expectedVersion: ctx.values['expect-version'] } : {}),
      });
      if (ctx.out.json) ctx.out.jsonLine(r);
    }
  },
};

function twoPaths(name: 'mv' | 'cp', method: string): Command {
  const verb = name === 'mv' ? 'Move or rename' : 'Copy (folders recursively)';
  const cmd: Command = {
    name,
    summary: verb,
    usage: `Usage: icpy ${name} FROM TO [-f]

${verb} FROM to TO. Fails with FILE_EXISTS when TO exists, unless -f (--force).`,
    options: { force: { type: 'boolean', short: 'f' } },
    async run(ctx) {
      const [from, to, extra] = need(ctx, 2, `${name}: FROM and TO`, cmd.usage);
      if (extra !== undefined) throw usageError(`${name}: exactly FROM and TO`, cmd.usage);
      const r = await ctx.http().call(method, {
        from: await ctx.serverPath(from!),
        to: await ctx.serverPath(to!),
        ...(ctx.values.force ? { overwrite: true } : {}),
      });
      if (ctx.out.json) ctx.out.jsonLine(r);
    },
  };
  return cmd;
}

export const mvCommand = twoPaths('mv', 'files.move');
export const cpCommand = twoPaths('cp', 'files.copy');

export const mkdirCommand: Command = {
  name: 'mkdir',
  summary: 'create a folder',
  usage: `Usage: icpy mkdir PATH…

Create folders (with missing parents). An existing folder is not an error.`,
  options: { parents: { type: 'boolean', short: 'p' } },
  async run(ctx) {
    const paths = need(ctx, 1, 'mkdir: PATH', mkdirCommand.usage);
    for (const p of paths) {
      const r = await ctx.http().call('files.mkdir', { path: await ctx.serverPath(p) });
      if (ctx.out.json) ctx.out.jsonLine(r);
    }
  },
};

interface SearchMatch {
  path: string;
  line?: number;
  column?: number;
  text?: string;
  preview?: string;
}

export const searchCommand: Command = {
  name: 'search',
  summary: 'search file contents',
  usage: `Usage: icpy search PATTERN [PATH] [-i] [--regex] [--glob G]… [--max N]

Search the contents of the workspace files (under PATH, default the current folder) and print
FILE:LINE:COL: text, like grep -n. .gitignore'd files are skipped.
  -i, --ignore-case   case-insensitive
  --regex             PATTERN is a regular expression (default: literal text)
  --glob G            only files matching G (repeatable)
  --max N             stop after N matches
No match is not an error: exit 0 with no output.`,
  options: {
    'ignore-case': { type: 'boolean', short: 'i' },
    regex: { type: 'boolean' },
    glob: { type: 'string', multiple: true },
    max: { type: 'string' },
  },
  async run(ctx) {
    const [pattern, under, extra] = need(ctx, 1, 'search: PATTERN', searchCommand.usage);
    if (extra !== undefined) throw usageError('search: PATTERN and at most one PATH', searchCommand.usage);
    let max: number | undefined;
    if (ctx.values.max !== undefined) {
      max = Number(ctx.values.max);
      if (!Number.isInteger(max) || max < 1) throw usageError('search: --max must be a positive integer');
    }
    const path = await ctx.serverPath(under ?? '.');
    const r = (await ctx.http().call('files.search', {
      query: pattern,
      ...(path && path !== '.' ? { path } : {}),
      ...(ctx.values['ignore-case'] ? { caseSensitive: false } : {}),
      ...(ctx.values.regex ? { regex: true } : {}),
      ...(ctx.values.glob ? { include: ctx.values.glob } : {}),
      ...(max ? { maxResults: max } : {}),
    })) as { matches?: SearchMatch[]; results?: SearchMatch[] } | SearchMatch[];
    if (ctx.out.json) {
      ctx.out.jsonLine(r);
      return ExitCode.Ok;
    }
    const matches = Array.isArray(r) ? r : (r.matches ?? r.results ?? []);
    for (const m of matches) ctx.out.line(`${m.path}:${m.line ?? ''}${m.column !== undefined ? `:${m.column}` : ''}: ${(m.text ?? m.preview ?? '').replace(/\r?\n$/, '')}`);
    return ExitCode.Ok;
  },
};
