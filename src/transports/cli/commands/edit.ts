import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { applyPatch, diffLines } from 'diff';
import { CliError, ExitCode, usageError } from '../cli-error.js';
import type { Command, CommandContext } from '../command.js';
import { readStdin } from '../stdin.js';

/** An LSP position: 0-based line, `character` in UTF-16 code units (what docs.applyEdits takes). */
interface Position {
  line: number;
  character: number;
}
interface Edit {
  range: { start: Position; end: Position };
  text: string;
}

/** Offsets (UTF-16) → LSP positions; `\n`, `\r\n` and `\r` end a line, as in LSP. */
export function positionsOf(text: string): (offset: number) => Position {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) starts.push(i + 1);
  }
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo, character: offset - starts[lo]! };
  };
}

/** Edits (ranges in `before`, non-overlapping, in order) that turn `before` into `after`, by lines. */
export function lineEdits(before: string, after: string): Edit[] {
  const at = positionsOf(before);
  const edits: Edit[] = [];
  let off = 0;
  let cur: { start: number; end: number; text: string } | undefined;
  const flush = () => {
    if (cur) edits.push({ range: { start: at(cur.start), end: at(cur.end) }, text: cur.text });
    cur = undefined;
  };
  for (const part of diffLines(before, after)) {
    if (part.added) {
      cur ??= { start: off, end: off, text: '' };
      cur.text += part.value;
    } else if (part.removed) {
      cur ??= { start: off, end: off, text: '' };
      off += part.value.length;
      cur.end = off;
    } else {
      flush();
      off += part.value.length;
    }
  }
  flush();
  return edits;
}

/** `L:C` with 1-based line and column (UTF-16 units, as editors and `icpy search` count) → LSP. */
function parsePos(s: string, usage: string): Position {
  const m = /^(\d+):(\d+)$/.exec(s);
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw usageError(`edit: '${s}' is not LINE:COL (1-based, e.g. 3:5)`, usage);
  return { line: Number(m[1]) - 1, character: Number(m[2]) - 1 };
}

function occurrences(text: string, needle: string): number[] {
  const out: number[] = [];
  for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) out.push(i);
  return out;
}

async function fileOrStdin(arg: string, cwd: string): Promise<string> {
  return arg === '-' ? (await readStdin()).toString('utf8') : readFileSync(resolve(cwd, arg), 'utf8');
}

const USAGE = `Usage: icpy edit FILE --range L:C[-L:C] --text T|-
       icpy edit FILE --replace OLD --with NEW [--all]
       icpy edit FILE --patch PATCH|-

Edit the live document of FILE (docs.applyEdits): open editors change in place, cursors kept,
and the edit is merged with concurrent typing; it reaches disk with the next save.
  --range L:C-L:C   replace from L:C up to (not including) L:C; a single L:C inserts there.
                    LINE and COL are 1-based; COL counts UTF-16 units (as editors and
                    \`icpy search\` print them)
  --text T          the new text; '-' reads it from stdin
  --replace OLD     exact text to replace (fails, exit 1, if absent, or if it occurs more
  --with NEW        than once unless --all); replaced by NEW
  --all             replace every occurrence
  --patch PATCH     apply a unified diff (a file, or '-' for stdin) to the live text; fails
                    (exit 1) when a hunk does not fit; sent as the minimal line edits
Edits are computed on the text as read and sent with its version, so typing in between is
kept. Prints the document's new version (--json: the docs.applyEdits result).`;

export const editCommand: Command = {
  name: 'edit',
  summary: 'edit a file in place (range, replace or patch)',
  usage: USAGE,
  options: {
    range: { type: 'string' },
    text: { type: 'string' },
    replace: { type: 'string' },
    with: { type: 'string' },
    all: { type: 'boolean' },
    patch: { type: 'string' },
  },
  async run(ctx) {
    const [file, extra] = ctx.positionals;
    if (file === undefined) throw usageError('edit: FILE missing', USAGE);
    if (extra !== undefined) throw usageError('edit: one FILE', USAGE);
    const v = ctx.values;
    const modes = [v.range !== undefined, v.replace !== undefined, v.patch !== undefined].filter(Boolean).length;
    if (modes !== 1) throw usageError('edit: give exactly one of --range, --replace, --patch', USAGE);
    const path = await ctx.serverPath(file);
    let edits: Edit[];
    let baseVersion: number | undefined;
    if (v.range !== undefined) {
      if (v.text === undefined) throw usageError('edit: --range needs --text', USAGE);
      const [a, b, more] = String(v.range).split('-');
      if (more !== undefined) throw usageError(`edit: '${v.range}' is not L:C-L:C`, USAGE);
      const start = parsePos(a!, USAGE);
      const end = b !== undefined ? parsePos(b, USAGE) : start;
      const text = v.text === '-' ? (await readStdin()).toString('utf8') : String(v.text);
      edits = [{ range: { start, end }, text }];
    } else {
      const doc = (await ctx.http().call('docs.get', { path })) as { text: string; version: number };
      baseVersion = doc.version;
      if (v.replace !== undefined) {
        if (v.with === undefined) throw usageError('edit: --replace needs --with', USAGE);
        const old = String(v.replace);
        if (!old) throw usageError('edit: --replace needs a non-empty OLD', USAGE);
        const hits = occurrences(doc.text, old);
        if (!hits.length) throw new CliError(ExitCode.CallFailed, `NOT_FOUND: '${path}' does not contain the --replace text`);
        if (hits.length > 1 && !v.all) throw new CliError(ExitCode.CallFailed, `AMBIGUOUS: the --replace text occurs ${hits.length} times in '${path}'; make it unique or pass --all`);
        const at = positionsOf(doc.text);
        edits = hits.map((h) => ({ range: { start: at(h), end: at(h + old.length) }, text: String(v.with) }));
      } else {
        const patch = await fileOrStdin(String(v.patch), ctx.cwd);
        const after = applyPatch(doc.text, patch);
        if (after === false) throw new CliError(ExitCode.CallFailed, `PATCH_FAILED: the patch does not apply to the current text of '${path}'`);
        edits = lineEdits(doc.text, after);
      }
    }
    const r = await applyEdits(ctx, path, edits, baseVersion);
    if (ctx.out.json) ctx.out.jsonLine(r);
    else ctx.out.line(`edited ${r.path}: ${edits.length} edit${edits.length === 1 ? '' : 's'}, version ${r.version}`);
  },
};

/** One docs.applyEdits call (all or nothing; over maxEditsPerCall the server says LIMIT_EXCEEDED). */
async function applyEdits(ctx: CommandContext, path: string, edits: Edit[], baseVersion: number | undefined): Promise<{ path: string; version: number }> {
  if (!edits.length) {
    const doc = (await ctx.http().call('docs.get', { path })) as { path: string; version: number };
    return { path: doc.path, version: doc.version };
  }
  return (await ctx.http().call('docs.applyEdits', { path, edits, ...(baseVersion !== undefined ? { baseVersion } : {}) })) as { path: string; version: number };
}
