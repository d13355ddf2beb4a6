import { ExitCode, usageError } from '../cli-error.js';
import type { Command, CommandContext } from '../command.js';
import type { Output } from '../output.js';

/** LSP positions: zero-based, character in UTF-16 code units (as `lsp.*` and `docs.*` use them). */
interface Position {
  line: number;
  character: number;
}
interface Range {
  start: Position;
  end: Position;
}

export interface Diagnostic {
  range: Range;
  /** LSP DiagnosticSeverity: 1 error, 2 warning, 3 information, 4 hint (absent: error). */
  severity?: number;
  code?: string | number;
  source?: string;
  message: string;
}

export interface FileDiagnostics {
  path: string;
  version?: number;
  diagnostics: Diagnostic[];
}

export interface SymbolRow {
  name: string;
  kind: number | string;
  containerName?: string;
  /** path is null for a symbol outside the workspace (a library file): then the URI is shown. */
  location: { path: string | null; uri: string; range: Range };
}

const SEVERITY = ['', 'error', 'warning', 'info', 'hint'] as const;

export function severityName(s: number | undefined): string {
  return SEVERITY[s ?? 1] || 'error';
}

/** LSP SymbolKind 1..26 → its name in lower case (`function`, `class`…). */
const SYMBOL_KINDS = [
  '', 'file', 'module', 'namespace', 'package', 'class', 'method', 'property', 'field', 'constructor', 'enum', 'interface',
  'function', 'variable', 'constant', 'string', 'number', 'boolean', 'array', 'object', 'key', 'null', 'enumMember',
  'struct', 'event', 'operator', 'typeParameter',
] as const;

export function symbolKindName(kind: number | string): string {
  if (typeof kind === 'string') return kind;
  return SYMBOL_KINDS[kind] || `kind${kind}`;
}

/** A message on one line: multi-line messages (pyright's, tsc's chains) are joined with spaces. */
function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/**
 * `PATH:LINE:COL severity message [source code]`, LINE and COL 1-based like a compiler's
 * (COL counts UTF-16 code units, as LSP does), so `icpy PATH:LINE:COL` opens the spot.
 */
export function formatDiagnostic(path: string, d: Diagnostic, out?: Output): string {
  const sev = severityName(d.severity);
  const tag = d.source !== undefined || d.code !== undefined ? ` [${[d.source, d.code].filter((x) => x !== undefined && x !== '').join(' ')}]` : '';
  const where = `${path}:${d.range.start.line + 1}:${d.range.start.character + 1}`;
  const sevText = out ? (sev === 'error' ? out.red(sev) : sev === 'warning' ? out.bold(sev) : out.dim(sev)) : sev;
  return `${out ? out.dim(where) : where} ${sevText} ${oneLine(d.message)}${out ? out.dim(tag) : tag}`;
}

/** A root-relative path as the user should see it: relative to the current folder when inside the root. */
async function displayPath(ctx: CommandContext, rootRel: string): Promise<string> {
  const here = await ctx.serverPath('.');
  if (here === '.' || here.startsWith('/')) return rootRel;
  const { relative } = await import('node:path/posix');
  return relative(here, rootRel);
}

function byPosition(a: Diagnostic, b: Diagnostic): number {
  return a.range.start.line - b.range.start.line || a.range.start.character - b.range.start.character;
}

/** However busy the servers are, the settle wait ends after this long. */
const MAX_SETTLE_TOTAL_MS = 15_000;

/**
 * The diagnostics of PATH (opened on its server when needed), or of every file a running server
 * has published problems for — settled: a server publishes in steps (typescript-language-server
 * sends the syntax check, then the type check, each as its own publish), so after the answer the
 * command keeps the newest `lsp.diagnostics.published` of each file until none came for
 * `settleMs`. Files that only show up in events (their first publish) are included too.
 */
async function collectDiagnostics(ctx: CommandContext, path: string | undefined, settleMs: number): Promise<FileDiagnostics[]> {
  const ws = await ctx.ws();
  const latest = new Map<string, FileDiagnostics>();
  let lastEvent = 0;
  const off = ws.onNotification((n) => {
    const ev = n.params as { topic?: string; data?: FileDiagnostics } | undefined;
    if (n.method !== 'event' || ev?.topic !== 'lsp.diagnostics.published' || !ev.data) return;
    if (path !== undefined && ev.data.path !== path) return;
    latest.set(ev.data.path, ev.data);
    lastEvent = Date.now();
  });
  try {
    // Subscribed before asking, so every publish after the answer's state reaches us.
    if (settleMs > 0) await ws.call('events.subscribe', { patterns: ['lsp.diagnostics.published'] });
    const got = ((await ws.call('lsp.diagnostics', path !== undefined ? { path } : {})) as { files: FileDiagnostics[] }).files;
    const answered = Date.now();
    for (;;) {
      const quietFor = Date.now() - Math.max(answered, lastEvent);
      if (settleMs <= 0 || quietFor >= settleMs || Date.now() - answered >= MAX_SETTLE_TOTAL_MS) break;
      await new Promise((r) => setTimeout(r, Math.min(settleMs - quietFor, 100)));
    }
    const byPath = new Map(got.map((f) => [f.path, f]));
    for (const [p, f] of latest) byPath.set(p, f);
    return [...byPath.values()];
  } finally {
    off();
  }
}

export const diagnosticsCommand: Command = {
  name: 'diagnostics',
  summary: 'errors and warnings from the language servers (PATH:LINE:COL severity message)',
  usage: `Usage: icpy diagnostics [PATH] [--severity LEVEL] [--settle MS]

Print the diagnostics (type errors, undefined names, lint warnings) the language servers report,
one per line, like a compiler:
  PATH:LINE:COL severity message [source code]
PATH relative to the current folder, LINE and COL 1-based (COL in UTF-16 code units), so
\`icpy PATH:LINE:COL\` opens the spot. They reflect the live text of open documents, unsaved
edits included.
  PATH               one file: opened on its language server if it is not yet (which starts
                     the server), waiting briefly for its first diagnostics. Without PATH:
                     every file a running server has published problems for.
  --severity LEVEL   only LEVEL and worse: error, warning, info or hint (default: hint, all)
  --settle MS        servers publish in steps (syntax, then types): keep the newest until none
                     came for MS milliseconds (default 750; 0 = the answer as it is)
Exit 1 when an error is listed (as compilers do; warnings alone exit 0), else 0. A summary
goes to stderr. --json: the lsp.diagnostics result {files: [{path, version?, diagnostics}]}
on one line (LSP Diagnostic objects, zero-based positions), then the same exit code.`,
  options: { severity: { type: 'string' }, settle: { type: 'string' } },
  async run(ctx) {
    const [file, extra] = ctx.positionals;
    if (extra !== undefined) throw usageError('diagnostics: at most one PATH', diagnosticsCommand.usage);
    const level = ctx.values.severity === undefined ? 4 : SEVERITY.indexOf(ctx.values.severity as (typeof SEVERITY)[number]);
    if (level < 1) throw usageError(`diagnostics: --severity must be error, warning, info or hint, got '${String(ctx.values.severity)}'`);
    const settle = ctx.values.settle === undefined ? 750 : Number(ctx.values.settle);
    if (!Number.isInteger(settle) || settle < 0 || settle > 10_000) throw usageError('diagnostics: --settle must be milliseconds from 0 to 10000');
    const known = await collectDiagnostics(ctx, file !== undefined ? await ctx.serverPath(file) : undefined, settle);
    const files = known
      .map((f) => ({ ...f, diagnostics: f.diagnostics.filter((d) => (d.severity ?? 1) <= level).sort(byPosition) }))
      .filter((f) => f.diagnostics.length || file !== undefined)
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const counts = [0, 0, 0, 0, 0];
    for (const f of files) for (const d of f.diagnostics) counts[d.severity ?? 1]!++;
    if (ctx.out.json) ctx.out.jsonLine({ files });
    else {
      for (const f of files) {
        const shown = await displayPath(ctx, f.path);
        for (const d of f.diagnostics) ctx.out.line(formatDiagnostic(shown, d, ctx.out));
      }
      const total = counts.reduce((a, b) => a + b, 0);
      const parts = [`${counts[1]} error${counts[1] === 1 ? '' : 's'}`, `${counts[2]} warning${counts[2] === 1 ? '' : 's'}`];
      if (counts[3] || counts[4]) parts.push(`${counts[3]! + counts[4]!} other`);
      const nFiles = files.filter((f) => f.diagnostics.length).length;
      process.stderr.write(total ? `icpy: ${parts.join(', ')} in ${nFiles} file${nFiles === 1 ? '' : 's'}\n` : 'icpy: no diagnostics\n');
    }
    return counts[1] ? ExitCode.CallFailed : ExitCode.Ok;
  },
};

export const symbolsCommand: Command = {
  name: 'symbols',
  summary: 'find symbols in the workspace by name (NAME KIND PATH:LINE:COL)',
  usage: `Usage: icpy symbols QUERY [-l LANG] [--limit N]

Workspace symbols whose name matches QUERY (fuzzy, as the language server decides), one per
line: NAME  KIND  PATH:LINE:COL (PATH relative to the current folder, LINE and COL 1-based, so
\`icpy PATH:LINE:COL\` opens it; in CONTAINER when the symbol is a member).
  -l, --language LANG   ask the server of LANG (typescript, python, shellscript, or a configured
                        one), starting it if it is not running. Default: every running server.
                        A server knows the project of the files it has open: ask after opening one.
  --limit N             at most N symbols (default 200, at most 1000)
No match is not an error: exit 0 with no output. --json: the lsp.workspaceSymbols result.`,
  options: { language: { type: 'string', short: 'l' }, limit: { type: 'string' } },
  async run(ctx) {
    const [query, extra] = ctx.positionals;
    if (query === undefined) throw usageError('symbols: QUERY missing', symbolsCommand.usage);
    if (extra !== undefined) throw usageError('symbols: one QUERY (quote it if it has spaces)', symbolsCommand.usage);
    const max = ctx.values.limit !== undefined ? Number(ctx.values.limit) : 200;
    if (!Number.isInteger(max) || max < 1 || max > 1000) throw usageError('symbols: --limit must be an integer from 1 to 1000');
    const language = ctx.values.language as string | undefined;
    const r = (await ctx.http().call('lsp.workspaceSymbols', { query, limit: Math.min(max, 1000), ...(language !== undefined ? { language } : {}) })) as { symbols: SymbolRow[] };
    const symbols = r.symbols;
    if (ctx.out.json) {
      ctx.out.jsonLine(r);
      return ExitCode.Ok;
    }
    const rows = await Promise.all(
      symbols.map(async (s) => ({
        name: s.name,
        kind: symbolKindName(s.kind),
        where: `${s.location.path !== null ? await displayPath(ctx, s.location.path) : s.location.uri}:${s.location.range.start.line + 1}:${s.location.range.start.character + 1}`,
        container: s.containerName ? `in ${s.containerName}` : '',
      })),
    );
    const w = (k: 'name' | 'kind') => Math.max(0, ...rows.map((x) => x[k].length));
    const [wn, wk] = [w('name'), w('kind')];
    for (const x of rows) ctx.out.line(`${ctx.out.bold(x.name.padEnd(wn))}  ${x.kind.padEnd(wk)}  ${x.where}${x.container ? `  ${ctx.out.dim(x.container)}` : ''}`);
    if (symbols.length >= max) process.stderr.write(`icpy: stopped at ${max} symbols (--limit N for more, up to 1000)\n`);
    return ExitCode.Ok;
  },
};
