import { CliError, ExitCode, RpcCallError, usageError } from '../cli-error.js';
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

/**
 * The server's messages name API params ("pass overwrite: true"); on the command line the user
 * needs the flag instead. `flags` maps a param hint to the flag that sets it.
 */
function speakFlags(err: unknown, flags: Record<string, string>): unknown {
  if (!(err instanceof RpcCallError)) return err;
  for (const [param, flag] of Object.entries(flags)) {
    err.message = err.message.replace(new RegExp(`pass ${param}: true`, 'g'), `use ${flag}`);
  }
  return err;
}

async function withFlags<T>(call: Promise<T>, flags: Record<string, string>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    throw speakFlags(err, flags);
  }
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
    // Like cat(1): a file that cannot be read is reported and the rest are still printed; exit 1.
    let failed = false;
    for (const f of files) {
      const path = await ctx.serverPath(f);
      try {
        let r: ReadResult;
        try {
          r = (await ctx.http().call('files.read', { path })) as ReadResult;
        } catch (err) {
          // Too big for one read: stream it in byte ranges (not with --json, which wants one object).
          if (err instanceof RpcCallError && err.code === 'FILE_TOO_LARGE' && !ctx.out.json) {
            await catInRanges(ctx, path);
            continue;
          }
          throw err;
        }
        if (ctx.out.json) ctx.out.jsonLine(r);
        else await writeOut(r.encoding === 'base64' ? Buffer.from(r.content, 'base64') : r.content);
      } catch (err) {
        // No server / bad token: nothing else can succeed either.
        if (!(err instanceof RpcCallError) || err.code === 'UNAUTHORIZED') throw err;
        failed = true;
        if (ctx.out.json) ctx.out.jsonLine({ path, error: err.toWire() });
        process.stderr.write(`icpy: ${err.code}: ${err.message}\n`);
      }
    }
    return failed ? ExitCode.CallFailed : ExitCode.Ok;
  },
};

interface ReadResult {
  content: string;
  encoding: 'utf8' | 'base64';
  size: number;
  version: string;
  length: number;
}

const RANGE_BYTES = 4 * 1024 * 1024;

/** stdout.write that waits when the pipe is full (large files into `| head` or a slow reader). */
function writeOut(chunk: string | Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.write(chunk)) resolve();
    else process.stdout.once('drain', resolve);
  });
}

async function catInRanges(ctx: CommandContext, path: string): Promise<void> {
  let offset = 0;
  let version: string | undefined;
  for (;;) {
    const r = (await ctx.http().call('files.read', { path, offset, length: RANGE_BYTES, encoding: 'base64' })) as ReadResult;
    if (version !== undefined && r.version !== version) {
      throw new CliError(ExitCode.CallFailed, `VERSION_CONFLICT: '${path}' changed while it was being read`);
    }
    version = r.version;
    await writeOut(Buffer.from(r.content, 'base64'));
    offset += r.length;
    if (r.length === 0 || offset >= r.size) return;
  }
}

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
    let r: { path: string; version: string; size: number; created: boolean };
    try {
      r = (await ctx.http().call('files.write', {
        path,
        content,
        ...(encoding === 'base64' ? { encoding } : {}),
        ...(ctx.values['expect-version'] !== undefined ? { expectedVersion: ctx.values['expect-version'] } : {}),
        ...(ctx.values.new ? { expectedVersion: null } : {}),
        ...(ctx.values.mkdirs ? { mkdirs: true } : {}),
      })) as typeof r;
    } catch (err) {
      if (err instanceof RpcCallError) {
        if (err.code === 'VERSION_CONFLICT' && ctx.values.new) err.message = `'${path}' already exists (--new writes only a new file)`;
        // Writing creates the file, so "not found" means a folder on the way is missing.
        else if (err.code === 'FILE_NOT_FOUND' && !ctx.values.mkdirs) err.message = `the folder of '${path}' does not exist; use -p to create it`;
      }
      throw speakFlags(err, { mkdirs: '-p' });
    }
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
      const r = await withFlags(
        ctx.http().call('files.delete', {
          path: await ctx.serverPath(p),
          ...(ctx.values.recursive ? { recursive: true } : {}),
          ...(ctx.values['expect-version'] !== undefined ? { expectedVersion: ctx.values['expect-version'] } : {}),
        }),
        { recursive: '-r' },
      );
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
      const r = await withFlags(
        ctx.http().call(method, {
          from: await ctx.serverPath(from!),
          to: await ctx.serverPath(to!),
          ...(ctx.values.force ? { overwrite: true } : {}),
        }),
        { overwrite: '-f' },
      );
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
  line: number;
  column: number;
  text: string;
  ranges: [number, number][];
}

interface SearchPage<T> {
  results: T[];
  nextCursor?: string;
  total: number;
  limitHit: boolean;
}

/** Every page of a paged search (files.search / files.find). */
async function allPages<T>(ctx: CommandContext, method: string, params: Record<string, unknown>): Promise<SearchPage<T>> {
  const first = (await ctx.http().call(method, params)) as SearchPage<T>;
  const results = [...first.results];
  let cursor = first.nextCursor;
  while (cursor) {
    const page = (await ctx.http().call(method, { cursor })) as SearchPage<T>;
    results.push(...page.results);
    cursor = page.nextCursor;
  }
  return { ...first, results, nextCursor: undefined };
}

/** A root-relative path as the user should see it: relative to the current folder when inside the root. */
async function displayPath(ctx: CommandContext, rootRel: string): Promise<string> {
  const here = await ctx.serverPath('.');
  if (here === '.' || here.startsWith('/')) return rootRel;
  const { relative } = await import('node:path/posix');
  return relative(here, rootRel);
}

/** Restrict a search to PATH (a folder or a file), or to the current folder inside the root. */
async function scopeGlobs(ctx: CommandContext, under: string | undefined): Promise<string[]> {
  const rel = await ctx.serverPath(under ?? '.');
  if (rel === '.' || rel === '' || rel.startsWith('/')) return [];
  if (under !== undefined) {
    const st = (await ctx.http().call('files.stat', { path: rel })) as { type: string };
    if (st.type !== 'dir') return [rel];
  }
  return [`${rel}/**`];
}

export const searchCommand: Command = {
  name: 'search',
  summary: 'search file contents',
  usage: `Usage: icpy search PATTERN [PATH] [-i | -s] [-w] [--regex] [--glob G]… [-a] [--ignored] [--max N]

Search the contents of the workspace files under PATH (default: the current folder) and print
FILE:LINE:COL: text, like grep -n (FILE relative to the current folder; LINE and COL 1-based,
so \`icpy FILE:LINE:COL\` opens the match). Literal text unless --regex; smart case unless
-i / -s. Uses ripgrep on the server when available.
  -i, --ignore-case      case-insensitive            -s, --case-sensitive   case-sensitive
  -w, --word             whole words only            --regex                PATTERN is a regex
  --glob G               only files matching G (repeatable; '!G' excludes), e.g. '*.ts'
  -a, --all              include dot-files           --ignored              include .gitignore'd files
  --max N                stop after N matches (default 1000)
No match is not an error: exit 0 with no output. --json: the files.search result (all pages).`,
  options: {
    'ignore-case': { type: 'boolean', short: 'i' },
    'case-sensitive': { type: 'boolean', short: 's' },
    word: { type: 'boolean', short: 'w' },
    regex: { type: 'boolean' },
    glob: { type: 'string', multiple: true },
    all: { type: 'boolean', short: 'a' },
    ignored: { type: 'boolean' },
    max: { type: 'string' },
  },
  async run(ctx) {
    const [pattern, under, extra] = need(ctx, 1, 'search: PATTERN', searchCommand.usage);
    if (extra !== undefined) throw usageError('search: PATTERN and at most one PATH', searchCommand.usage);
    if (ctx.values['ignore-case'] && ctx.values['case-sensitive']) throw usageError('search: -i and -s exclude each other');
    let max: number | undefined;
    if (ctx.values.max !== undefined) {
      max = Number(ctx.values.max);
      if (!Number.isInteger(max) || max < 1) throw usageError('search: --max must be a positive integer');
    }
    const globs = [...(await scopeGlobs(ctx, under)), ...((ctx.values.glob as string[] | undefined) ?? [])];
    const r = await allPages<SearchMatch>(ctx, 'files.search', {
      query: pattern,
      ...(ctx.values['ignore-case'] ? { caseSensitive: false } : {}),
      ...(ctx.values['case-sensitive'] ? { caseSensitive: true } : {}),
      ...(ctx.values.word ? { wholeWord: true } : {}),
      ...(ctx.values.regex ? { regex: true } : {}),
      ...(globs.length ? { globs } : {}),
      ...(ctx.values.all ? { hidden: true } : {}),
      ...(ctx.values.ignored ? { ignored: true } : {}),
      ...(max ? { maxResults: max } : {}),
    });
    if (ctx.out.json) {
      ctx.out.jsonLine(r);
      return ExitCode.Ok;
    }
    const out = ctx.out;
    for (const m of r.results) {
      let text = m.text;
      if (out.color && m.ranges.length) {
        let acc = '';
        let at = 0;
        for (const [a, b] of m.ranges) {
          acc += text.slice(at, a) + out.red(out.bold(text.slice(a, b)));
          at = b;
        }
        text = acc + text.slice(at);
      }
      out.line(`${out.dim(`${await displayPath(ctx, m.path)}:${m.line}:${m.column + 1}:`)} ${text}`);
    }
    if (r.limitHit) process.stderr.write(`icpy: stopped at ${r.total} matches (--max N for more)\n`);
    return ExitCode.Ok;
  },
};

interface NameMatch {
  path: string;
  score: number;
}

export const findCommand: Command = {
  name: 'find',
  summary: 'find files by name (fuzzy)',
  usage: `Usage: icpy find QUERY [-a] [--ignored] [--max N]

Fuzzy file-name search (quick open): files whose path holds QUERY's characters in order, best
first, printed relative to the current folder. --json: the files.find result.`,
  options: { all: { type: 'boolean', short: 'a' }, ignored: { type: 'boolean' }, max: { type: 'string' } },
  async run(ctx) {
    const [query, extra] = need(ctx, 1, 'find: QUERY', findCommand.usage);
    if (extra !== undefined) throw usageError('find: one QUERY', findCommand.usage);
    const max = ctx.values.max !== undefined ? Number(ctx.values.max) : 50;
    if (!Number.isInteger(max) || max < 1) throw usageError('find: --max must be a positive integer');
    const r = await allPages<NameMatch>(ctx, 'files.find', {
      query,
      maxResults: max,
      ...(ctx.values.all ? { hidden: true } : {}),
      ...(ctx.values.ignored ? { ignored: true } : {}),
    });
    if (ctx.out.json) ctx.out.jsonLine(r);
    else for (const m of r.results) ctx.out.line(await displayPath(ctx, m.path));
  },
};
