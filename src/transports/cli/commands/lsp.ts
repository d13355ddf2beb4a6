import { usageError } from '../cli-error.js';
import { relative } from 'node:path/posix';
import type { Command, CommandContext } from '../command.js';

interface Diag {
  range: { start: { line: number; character: number } };
  message: string;
  severity?: number;
  code?: string | number;
  source?: string;
}

const SEVERITY = ['', 'error', 'warning', 'info', 'hint'];
const SYMBOL_KINDS = ['', 'file', 'module', 'namespace', 'package', 'class', 'method', 'property', 'field', 'constructor', 'enum', 'interface', 'function', 'variable', 'constant', 'string', 'number', 'boolean', 'array', 'object', 'key', 'null', 'enum-member', 'struct', 'event', 'operator', 'type-parameter'];

/** A root-relative path as the user should see it: relative to the current folder when inside the root (as search prints). */
async function shown(ctx: CommandContext, rootRel: string): Promise<string> {
  const here = await ctx.serverPath('.');
  return here === '.' || here.startsWith('/') ? rootRel : relative(here, rootRel);
}

/** One line, compiler style: FILE:LINE:COL (1-based) so editors and terminals jump to it. */
function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ');
}

export const diagnosticsCommand: Command = {
  name: 'diagnostics',
  summary: 'language-server diagnostics of a file (or of every file published)',
  usage: `Usage: icpy diagnostics [PATH]

Print the diagnostics the language servers give for PATH (its server is started and the file
opened on it when needed, unsaved live edits included), or, without PATH, for every file a running
server has published problems for. One line each: FILE:LINE:COL: severity: message [source code]
(FILE relative to the current folder, LINE and COL 1-based). Exit code 1 when any is an error.
--json: the lsp.diagnostics result.`,
  async run(ctx) {
    const [file, extra] = ctx.positionals;
    if (extra !== undefined) throw usageError('diagnostics: at most one PATH', diagnosticsCommand.usage);
    const params = file === undefined ? {} : { path: await ctx.serverPath(file) };
    const r = (await ctx.http().call('lsp.diagnostics', params)) as { files: { path: string; diagnostics: Diag[] }[] };
    if (ctx.out.json) ctx.out.jsonLine(r);
    let errors = 0;
    for (const f of r.files) {
      for (const d of f.diagnostics) {
        if (d.severity === 1) errors++;
        if (ctx.out.json) continue;
        const tag = [d.source, d.code].filter((x) => x !== undefined && x !== '').join(' ');
        ctx.out.line(`${await shown(ctx, f.path)}:${d.range.start.line + 1}:${d.range.start.character + 1}: ${SEVERITY[d.severity ?? 1] ?? 'error'}: ${oneLine(d.message)}${tag ? ` [${tag}]` : ''}`);
      }
    }
    return errors > 0 ? 1 : 0;
  },
};

export const symbolsCommand: Command = {
  name: 'symbols',
  summary: 'find symbols across the workspace (FILE:LINE:COL: kind name)',
  usage: `Usage: icpy symbols QUERY [--language ID] [--limit N]

Search the workspace's symbols (classes, functions, variables…) through the language servers:
the server of --language (typescript, python, shellscript, or a configured one; started when
needed), else every running server. One line each: FILE:LINE:COL: kind name (container).
  --language ID   ask this language's server
  --limit N       at most N symbols (default 200, at most 1000)
--json: the lsp.workspaceSymbols result.`,
  options: { language: { type: 'string' }, limit: { type: 'string' } },
  async run(ctx) {
    const [query, extra] = ctx.positionals;
    if (query === undefined) throw usageError('symbols: QUERY missing', symbolsCommand.usage);
    if (extra !== undefined) throw usageError('symbols: one QUERY (quote it when it has spaces)', symbolsCommand.usage);
    const params: Record<string, unknown> = { query };
    if (typeof ctx.values.language === 'string') params.language = ctx.values.language;
    if (ctx.values.limit !== undefined) {
      const n = Number(ctx.values.limit);
      if (!Number.isInteger(n) || n < 1 || n > 1000) throw usageError('symbols: --limit must be an integer from 1 to 1000');
      params.limit = n;
    }
    const r = (await ctx.http().call('lsp.workspaceSymbols', params)) as {
      symbols: { name: string; kind: number; containerName?: string; location: { path: string | null; uri: string; range: { start: { line: number; character: number } } } }[];
    };
    if (ctx.out.json) return ctx.out.jsonLine(r);
    for (const s of r.symbols) {
      const at = s.location.range.start;
      ctx.out.line(`${s.location.path === null ? s.location.uri : await shown(ctx, s.location.path)}:${at.line + 1}:${at.character + 1}: ${SYMBOL_KINDS[s.kind] ?? 'symbol'} ${s.name}${s.containerName ? ` (${s.containerName})` : ''}`);
    }
  },
};
