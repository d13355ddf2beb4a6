import { z } from 'zod';
import { defineMethod, sourceOf, type MethodContext } from '../../core/rpc/index.js';
import { assertPathAllowed, hasScope, pathAllowed, pathForbidden, type Principal } from '../../core/principal.js';
import { IcpyError } from '../../core/errors.js';
import type { LspService } from './lsp-service.js';
import type { LanguageServer } from './language-server.js';

/** Bounds on what one call may ask for or get back (a server can return thousands of items). */
const MAX_POSITION = 2 ** 31 - 1;
const MAX_ITEMS = 1000;

const path = z.string().min(1).max(4096).describe('Workspace-relative path of a source file (its extension picks the language server)');
const position = z.strictObject({
  line: z.number().int().min(0).max(MAX_POSITION).describe('Zero-based line (past the last line → INVALID_PARAMS)'),
  character: z.number().int().min(0).max(MAX_POSITION).describe('Zero-based UTF-16 offset in the line (past the end = end of line)'),
});
const rangeIn = z.strictObject({ start: position, end: position });
const pos = z.object({ line: z.number().int(), character: z.number().int() });
const range = z.object({ start: pos, end: pos });
const location = z.object({
  path: z.string().nullable().describe('Workspace-relative path; null when the target is outside the workspace (a library file)'),
  uri: z.string(),
  range,
});
const textEdit = z.object({ range, newText: z.string() });
const fileEdits = z.object({ path: z.string().nullable(), uri: z.string(), edits: z.array(textEdit) });
const diagnostic = z.object({ range, message: z.string(), severity: z.number().int().optional(), code: z.union([z.string(), z.number()]).optional(), source: z.string().optional() }).passthrough();
const limit = z.number().int().min(1).max(MAX_ITEMS).default(200).describe(`Most items returned (1–${MAX_ITEMS})`);

type Loc = { uri: string; range: z.infer<typeof range> };

export function createLspMethods(lsp: LspService) {
  const where = (uri: string) => ({ path: lsp.pathOf(uri) ?? null, uri });
  const locs = (r: unknown): z.infer<typeof location>[] => {
    const xs = (r == null ? [] : Array.isArray(r) ? r : [r]) as (Loc | { targetUri: string; targetSelectionRange: Loc['range']; targetRange: Loc['range'] })[];
    return xs.slice(0, MAX_ITEMS).map((l) => ('targetUri' in l ? { ...where(l.targetUri), range: l.targetSelectionRange ?? l.targetRange } : { ...where(l.uri), range: l.range }));
  };
  const edits = (edit: unknown) =>
    lsp.workspaceEditChanges(edit).map((c) => ({ path: c.path ?? null, uri: c.uri, edits: c.edits.map((e) => ({ range: e.range, newText: e.text })) }));
  const client = (ctx: MethodContext) => ctx.connection.id;
  const at = (p: { path: string; position: z.infer<typeof position> }, ctx: MethodContext) => ({ clientId: client(ctx), positions: [{ value: p.position, field: 'position' }] });
  const req = <R>(server: LanguageServer, method: string, params: unknown, ctx: MethodContext) => server.request<R>(method, params, { ...(ctx.signal ? { signal: ctx.signal } : {}) });

  const completion = defineMethod({
    name: 'lsp.completion',
    description: "Completions at a position, from the file's language server, for the text users see (unsaved live edits included).",
    params: z.strictObject({ path, position, limit }),
    result: z.object({
      isIncomplete: z.boolean(),
      items: z.array(z.object({ label: z.string(), kind: z.number().int().optional(), detail: z.string().optional(), sortText: z.string().optional(), insertText: z.string().optional() }).passthrough()),
    }),
    scope: 'read',
    paths: (p) => [{ field: 'path', path: p.path }],
    examples: [{ params: { path: 'src/app.ts', position: { line: 3, character: 8 } }, result: { isIncomplete: false, items: [{ label: 'log', kind: 2 }] } }],
    handler: (p, ctx) =>
      lsp.onDocument(p.path, at(p, ctx), async (d) => {
        const r = await req<{ isIncomplete?: boolean; items: unknown[] } | unknown[] | null>(d.server, 'textDocument/completion', { textDocument: { uri: d.uri }, position: d.positions[0] }, ctx);
        const items = (Array.isArray(r) ? r : (r?.items ?? [])) as { label: string; sortText?: string }[];
        const sorted = items.length > p.limit ? [...items].sort((a, b) => (a.sortText ?? a.label).localeCompare(b.sortText ?? b.label)) : items;
        return { isIncomplete: (!Array.isArray(r) && r?.isIncomplete === true) || items.length > p.limit, items: sorted.slice(0, p.limit).map(({ data: _d, ...rest }: { data?: unknown; label: string }) => rest) };
      }),
  });

  const hover = defineMethod({
    name: 'lsp.hover',
    description: 'What the language server shows on hover (types, docs) as markdown/plain text; null when nothing.',
    params: z.strictObject({ path, position }),
    result: z.object({ contents: z.string(), range: range.optional() }).nullable(),
    scope: 'read',
    paths: (p) => [{ field: 'path', path: p.path }],
    examples: [{ params: { path: 'src/app.ts', position: { line: 0, character: 6 } }, result: { contents: '```typescript\nconst x: number\n```' } }],
    handler: (p, ctx) =>
      lsp.onDocument(p.path, at(p, ctx), async (d) => {
        const r = await req<{ contents: unknown; range?: z.infer<typeof range> } | null>(d.server, 'textDocument/hover', { textDocument: { uri: d.uri }, position: d.positions[0] }, ctx);
        if (!r) return null;
        const text = hoverText(r.contents);
        return text ? { contents: text, ...(r.range ? { range: r.range } : {}) } : null;
      }),
  });

  const locationMethod = (name: 'lsp.definition' | 'lsp.references', lspMethod: string, description: string) =>
    defineMethod({
      name,
      description,
      params: name === 'lsp.references' ? z.strictObject({ path, position, includeDeclaration: z.boolean().default(true) }) : z.strictObject({ path, position, includeDeclaration: z.boolean().optional() }),
      result: z.object({ locations: z.array(location) }),
      scope: 'read',
      paths: (p: { path: string }) => [{ field: 'path', path: p.path }],
      visible: (r: { locations: z.infer<typeof location>[] }, pr: Principal) => ({ locations: r.locations.filter((l) => locationVisible(pr, l.path)) }),
      examples: [{ params: { path: 'src/main.ts', position: { line: 2, character: 10 } }, result: { locations: [{ path: 'src/util.ts', uri: 'file:///ws/src/util.ts', range: { start: { line: 0, character: 16 }, end: { line: 0, character: 20 } } }] } }],
      handler: (p: { path: string; position: z.infer<typeof position>; includeDeclaration?: boolean }, ctx: MethodContext) =>
        lsp.onDocument(p.path, at(p, ctx), async (d) => {
          const params = { textDocument: { uri: d.uri }, position: d.positions[0], ...(name === 'lsp.references' ? { context: { includeDeclaration: p.includeDeclaration ?? true } } : {}) };
          return { locations: locs(await req<unknown>(d.server, lspMethod, params, ctx)) };
        }),
    });

  const definition = locationMethod('lsp.definition', 'textDocument/definition', 'Where the symbol at a position is defined (across files; path null for a library file outside the workspace).');
  const references = locationMethod('lsp.references', 'textDocument/references', 'Every reference to the symbol at a position (at most 1000).');

  const symbol = z.object({ name: z.string(), kind: z.number().int(), detail: z.string().optional(), containerName: z.string().optional(), range, selectionRange: range.optional(), children: z.array(z.unknown()).optional() });
  const documentSymbols = defineMethod({
    name: 'lsp.documentSymbols',
    description: "The outline of a file: its symbols (hierarchical when the server gives DocumentSymbol trees: children nest).",
    params: z.strictObject({ path }),
    result: z.object({ symbols: z.array(symbol) }),
    scope: 'read',
    paths: (p) => [{ field: 'path', path: p.path }],
    handler: (p, ctx) =>
      lsp.onDocument(p.path, { clientId: client(ctx) }, async (d) => {
        const r = ((await req<unknown[] | null>(d.server, 'textDocument/documentSymbol', { textDocument: { uri: d.uri } }, ctx)) ?? []) as Record<string, unknown>[];
        return {
          symbols: r.slice(0, MAX_ITEMS).map((s) =>
            'location' in s
              ? { name: s.name as string, kind: s.kind as number, ...(s.containerName ? { containerName: s.containerName as string } : {}), range: (s.location as Loc).range }
              : (s as unknown as z.infer<typeof symbol>),
          ),
        };
      }),
  });

  const workspaceSymbols = defineMethod({
    name: 'lsp.workspaceSymbols',
    description:
      'Symbols matching a query across the workspace, from the server of `language` (started if needed) or else from every running server. A server knows the project of the files it has open, so ask after opening one.',
    params: z.strictObject({ query: z.string().max(256), language: z.string().max(64).optional(), limit }),
    result: z.object({ symbols: z.array(z.object({ name: z.string(), kind: z.number().int(), containerName: z.string().optional(), location })) }),
    scope: 'read',
    // Every file's symbols: those in files outside the limits are dropped.
    pathFree: true,
    visible: (r, pr) => ({ symbols: r.symbols.filter((x) => locationVisible(pr, x.location.path)) }),
    handler: (p, ctx) =>
      lsp.withClient(client(ctx), async () => {
        const servers = p.language ? [await lsp.serverFor(p.language)] : lsp.running();
        const out: { name: string; kind: number; containerName?: string; location: z.infer<typeof location> }[] = [];
        for (const s of servers) {
          const r = ((await req<unknown[] | null>(s, 'workspace/symbol', { query: p.query }, ctx)) ?? []) as { name: string; kind: number; containerName?: string; location: Loc }[];
          for (const x of r) {
            if (out.length >= p.limit) break;
            if (!x.location?.range) continue;
            out.push({ name: x.name, kind: x.kind, ...(x.containerName ? { containerName: x.containerName } : {}), location: { ...where(x.location.uri), range: x.location.range } });
          }
        }
        return { symbols: out };
      }),
  });

  const applied = z.boolean().describe('True when the edits were applied through the live documents (every client sees them)');
  const format = defineMethod({
    name: 'lsp.format',
    description: 'Formatting edits for a whole file from its language server; with apply: true they are applied through the live documents, attributed to the caller.',
    params: z.strictObject({
      path,
      tabSize: z.number().int().min(1).max(16).default(2),
      insertSpaces: z.boolean().default(true),
      apply: z.boolean().default(false),
    }),
    result: z.object({ edits: z.array(textEdit), applied }),
    scope: 'read',
    paths: (p) => [{ field: 'path', path: p.path }],
    handler: (p, ctx) =>
      lsp.onDocument(p.path, { clientId: client(ctx) }, async (d) => {
        const r = ((await req<z.infer<typeof textEdit>[] | null>(d.server, 'textDocument/formatting', { textDocument: { uri: d.uri }, options: { tabSize: p.tabSize, insertSpaces: p.insertSpaces } }, ctx)) ?? []).slice(0, 10_000);
        if (p.apply && r.length) {
          requireWrite(ctx);
          await lsp.applyWorkspaceEdit({ documentChanges: [{ textDocument: { uri: d.uri, version: d.live ? d.version : null }, edits: r }] }, sourceOf(ctx));
        }
        return { edits: r, applied: p.apply && r.length > 0 };
      }),
  });

  const rename = defineMethod({
    name: 'lsp.rename',
    description:
      'Rename the symbol at a position: the edits per file. With apply: true they are applied through the live documents (attributed to the caller; open editors see them at once; saved as usual). Needs the write scope to apply.',
    params: z.strictObject({ path, position, newName: z.string().min(1).max(1024), apply: z.boolean().default(false) }),
    result: z.object({ changes: z.array(fileEdits), applied }),
    scope: 'read',
    paths: (p) => [{ field: 'path', path: p.path }],
    // Edits in files outside the limits are not shown (and apply: true refuses them, see the handler).
    visible: (r, pr) => ({ ...r, changes: r.changes.filter((c) => locationVisible(pr, c.path)) }),
    handler: (p, ctx) =>
      lsp.onDocument(p.path, at(p, ctx), async (d) => {
        const r = await req<unknown>(d.server, 'textDocument/rename', { textDocument: { uri: d.uri }, position: d.positions[0], newName: p.newName }, ctx);
        const changes = edits(r);
        if (p.apply && changes.length) {
          requireWrite(ctx);
          // A rename reaching into files outside the caller's path limits is refused whole, not applied in part.
          if (ctx.principal.paths) {
            for (const c of changes) {
              if (c.path === null) throw pathForbidden(ctx.principal, c.uri, 'apply');
              assertPathAllowed(ctx.principal, c.path, 'apply');
            }
          }
          await lsp.applyWorkspaceEdit(r, sourceOf(ctx));
        }
        return { changes, applied: p.apply && changes.length > 0 };
      }),
  });

  const codeActions = defineMethod({
    name: 'lsp.codeActions',
    description: 'Code actions (quick fixes, refactorings) for a range; each edit is given per file. Apply one with docs.applyEdits.',
    params: z.strictObject({ path, range: rangeIn, only: z.array(z.string().max(128)).max(32).optional() }),
    result: z.object({ actions: z.array(z.object({ title: z.string(), kind: z.string().optional(), isPreferred: z.boolean().optional(), changes: z.array(fileEdits), command: z.unknown().optional() })) }),
    scope: 'read',
    paths: (p) => [{ field: 'path', path: p.path }],
    // An action that would edit a file outside the limits is left out.
    visible: (r, pr) => ({ actions: r.actions.filter((a) => a.changes.every((c) => c.path !== null && pathAllowed(pr, c.path))) }),
    handler: (p, ctx) =>
      lsp.onDocument(p.path, { clientId: client(ctx), positions: [{ value: p.range.start, field: 'range.start' }, { value: p.range.end, field: 'range.end' }] }, async (d) => {
        const diags = (lsp.diagnosticsOf(d.path)?.diagnostics ?? []).filter((x) => x.range.start.line <= d.positions[1]!.line && x.range.end.line >= d.positions[0]!.line);
        const r = ((await req<unknown[] | null>(d.server, 'textDocument/codeAction', { textDocument: { uri: d.uri }, range: { start: d.positions[0], end: d.positions[1] }, context: { diagnostics: diags, ...(p.only ? { only: p.only } : {}) } }, ctx)) ?? []) as Record<string, unknown>[];
        return {
          actions: r.slice(0, MAX_ITEMS).map((a) =>
            typeof a.command === 'string'
              ? { title: a.title as string, changes: [], command: a }
              : { title: a.title as string, ...(a.kind ? { kind: a.kind as string } : {}), ...(a.isPreferred !== undefined ? { isPreferred: a.isPreferred as boolean } : {}), changes: edits(a.edit), ...(a.command ? { command: a.command } : {}) },
          ),
        };
      }),
  });

  const fileDiagnostics = z.object({ path: z.string(), version: z.number().int().optional(), diagnostics: z.array(diagnostic) });
  const diagnostics = defineMethod({
    name: 'lsp.diagnostics',
    description:
      "Diagnostics as the language servers last published them. With path: that file's (opening it on its server first and waiting up to requestTimeoutMs for the first publish). Without: every workspace file a running server has published diagnostics for (non-empty sets only). Later changes arrive as lsp.diagnostics.published events.",
    params: z.strictObject({ path: path.optional() }),
    result: z.object({ files: z.array(fileDiagnostics) }),
    scope: 'read',
    paths: (p) => [{ field: 'path', path: p.path }],
    visible: (r, pr) => ({ files: r.files.filter((f) => pathAllowed(pr, f.path)) }),
    examples: [{ params: { path: 'src/app.ts' }, result: { files: [{ path: 'src/app.ts', version: 3, diagnostics: [{ range: { start: { line: 0, character: 6 }, end: { line: 0, character: 7 } }, message: "Type 'string' is not assignable to type 'number'.", severity: 1, code: 2322, source: 'typescript' }] }] } }],
    handler: (p, ctx) => {
      if (p.path === undefined) return { files: lsp.allDiagnostics().filter((f) => f.diagnostics.length > 0) };
      return lsp.onDocument(p.path, { clientId: client(ctx) }, async (d) => {
        if (!lsp.diagnosticsOf(d.path)) await lsp.waitForDiagnostics(d.path, lsp.requestTimeoutMs, ctx.signal);
        return { files: [lsp.diagnosticsOf(d.path) ?? { path: d.path, diagnostics: [] }] };
      });
    },
  });

  const status = defineMethod({
    name: 'lsp.status',
    description: 'Every configured language server: its language ids, state (stopped, starting, ready, restarting, failed), pid, restarts and last error.',
    params: z.strictObject({}),
    result: z.object({
      servers: z.array(z.object({ languageId: z.string(), languageIds: z.array(z.string()), state: z.string(), pid: z.number().int().optional(), restarts: z.number().int(), error: z.string().optional() })),
    }),
    scope: 'read',
    pathFree: true,
    handler: () => ({ servers: lsp.status() }),
  });

  return [completion, hover, definition, references, documentSymbols, workspaceSymbols, format, rename, codeActions, diagnostics, status];
}

/** A location a path-limited principal may see: outside the workspace (a library file), or inside its limits. */
function locationVisible(p: Principal, path: string | null): boolean {
  return path === null || pathAllowed(p, path);
}

function requireWrite(ctx: MethodContext): void {
  if (!hasScope(ctx.principal, 'write')) throw new IcpyError('FORBIDDEN', 'Applying edits needs the write scope', { scope: 'write' });
}

/** Hover contents (MarkupContent, MarkedString or an array of them) as one string. */
function hoverText(c: unknown): string {
  if (c == null) return '';
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) return c.map(hoverText).filter(Boolean).join('\n\n');
  const o = c as { value?: string; language?: string; kind?: string };
  if (o.language !== undefined) return '```' + o.language + '\n' + (o.value ?? '') + '\n```';
  return o.value ?? '';
}
