import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, rpcError, startServer, type TestServer, type WsClient } from './helpers/server.js';
import { until } from './helpers/until.js';
import { provider, type Client } from './helpers/yjs.js';
import { icpy as runIcpy } from './helpers/cli.js';

const icpy = (args: string[], cwd: string, runtimeDir: string) =>
  runIcpy(args, { PATH: process.env.PATH, HOME: process.env.HOME, ICPY_URL: s.url, ICPY_TOKEN: s.token, ICPY_RUNTIME_DIR: runtimeDir }, cwd, '', 45_000);


/**
 * lsp.* against the real servers (typescript-language-server + typescript@5, pyright). One icpy
 * server for the whole file: each language server starts once (~2–3 s) and is shared.
 */
let s: TestServer;
let ws: WsClient;
const clients: Client[] = [];

const files: Record<string, string> = {
  'tsconfig.json': JSON.stringify({ compilerOptions: { strict: true, target: 'es2022', module: 'esnext', moduleResolution: 'bundler', noEmit: true, types: [] }, include: ['src'] }),
  'src/util.ts': "export function greet(name: string): string {\n  return 'hi ' + name;\n}\n",
  'src/main.ts': "import { greet } from './util';\nconst n: number = 'oops';\nconsole.log(greet('a'), n);\n",
  'src/complete.ts': 'const x = 1;\nconsole.\n',
  'src/rename.ts': 'export const oldName = 1;\nexport const twice = oldName * 2;\n',
  'src/edit.ts': 'export const a: number = 1;\n',
  'app.py': 'print(undefined_name)\n',
  'src/format.ts': 'export   const  f=( a:number )=>{return a+1}\n',
  'src/fix.ts': "export function useIt(): string {\n  return missingName;\n}\nexport const missingNames = 'x';\n",
  'run.sh': '#!/bin/bash\necho $1\n',
};

beforeAll(async () => {
  // Saves far away: "unsaved" really means unsaved during the test.
  s = await startServer({ docs: { saveDebounceMs: 60_000, saveMaxDelayMs: 60_000 } });
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(s.root, p, '..'), { recursive: true });
    writeFileSync(join(s.root, p), text);
  }
  ws = await connect(s);
  await ws.call('events.subscribe', { patterns: ['lsp.**'] });
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.destroy();
  await ws?.close();
  await s?.close();
}, 30_000);

const diagnosticEvent = (path: string, pred: (d: any[]) => boolean) =>
  ws.waitFor(() => ws.events().find((e) => e.topic === 'lsp.diagnostics.published' && e.data.path === path && pred(e.data.diagnostics))?.data, 45_000, `diagnostics of ${path}`);

describe('lsp.* with the real servers', () => {
  it('a .ts file with a type error yields a diagnostic event on the right line', async () => {
    const r = await ws.call('lsp.diagnostics', { path: 'src/main.ts' });
    expect(r.files[0].path).toBe('src/main.ts');
    const ev = await diagnosticEvent('src/main.ts', (d) => d.some((x) => x.range.start.line === 1));
    const err = ev.diagnostics.find((x: any) => x.range.start.line === 1);
    expect(err.message).toMatch(/not assignable to type 'number'/);
    expect(err.severity).toBe(1);
    expect(ev.diagnostics.every((x: any) => x.range.start.line === 1)).toBe(true);
  }, 60_000);

  it("completion after 'console.' offers log", async () => {
    const r = await ws.call('lsp.completion', { path: 'src/complete.ts', position: { line: 1, character: 8 } });
    expect(r.items.map((i: any) => i.label)).toContain('log');
  }, 60_000);

  it('hover shows a type', async () => {
    const r = await ws.call('lsp.hover', { path: 'src/main.ts', position: { line: 1, character: 6 } });
    expect(r.contents).toContain('const n: number');
  }, 60_000);

  it('definition jumps across files', async () => {
    const r = await ws.call('lsp.definition', { path: 'src/main.ts', position: { line: 2, character: 13 } });
    expect(r.locations).toHaveLength(1);
    expect(r.locations[0].path).toBe('src/util.ts');
    expect(r.locations[0].range.start.line).toBe(0);
    const refs = await ws.call('lsp.references', { path: 'src/util.ts', position: { line: 0, character: 17 } });
    expect(refs.locations.map((l: any) => l.path).sort()).toEqual(expect.arrayContaining(['src/main.ts', 'src/util.ts']));
  }, 60_000);

  it('document and workspace symbols', async () => {
    const d = await ws.call('lsp.documentSymbols', { path: 'src/util.ts' });
    expect(d.symbols.map((x: any) => x.name)).toContain('greet');
    const w = await ws.call('lsp.workspaceSymbols', { query: 'greet', language: 'typescript' });
    expect(w.symbols.some((x: any) => x.name === 'greet' && x.location.path === 'src/util.ts')).toBe(true);
  }, 60_000);

  it('rename with apply: true reaches an open y-websocket client', async () => {
    const c = provider(s, 'src/rename.ts');
    clients.push(c);
    await c.synced();
    const r = await ws.call('lsp.rename', { path: 'src/rename.ts', position: { line: 0, character: 14 }, newName: 'newName', apply: true });
    expect(r.applied).toBe(true);
    expect(r.changes[0].path).toBe('src/rename.ts');
    await until(() => c.text.toString() === 'export const newName = 1;\nexport const twice = newName * 2;\n', 'the rename in the Yjs client');
  }, 60_000);

  it('format with apply: true rewrites the live document (and so an open Yjs client)', async () => {
    const c = provider(s, 'src/format.ts');
    clients.push(c);
    await c.synced();
    const dry = await ws.call('lsp.format', { path: 'src/format.ts' });
    expect(dry.applied).toBe(false);
    expect(dry.edits.length).toBeGreaterThan(0);
    expect(c.text.toString()).toBe(files['src/format.ts']); // a dry run changes nothing
    const r = await ws.call('lsp.format', { path: 'src/format.ts', apply: true });
    expect(r.applied).toBe(true);
    await until(() => c.text.toString() === 'export const f = (a: number) => { return a + 1 }\n', 'formatted in the Yjs client');
  }, 60_000);

  it('codeActions on an undefined name offer a fix with edits for the file', async () => {
    const line = 1;
    await ws.call('lsp.diagnostics', { path: 'src/fix.ts' }); // opens it on its server
    await diagnosticEvent('src/fix.ts', (d) => d.some((x) => x.range.start.line === line));
    const r = await ws.call('lsp.codeActions', { path: 'src/fix.ts', range: { start: { line, character: 9 }, end: { line, character: 20 } } });
    const fix = r.actions.find((a: any) => /missingNames/.test(a.title));
    expect(fix, JSON.stringify(r.actions.map((a: any) => a.title))).toBeTruthy();
    expect(fix.changes[0].path).toBe('src/fix.ts');
  }, 60_000);

  it('bash-language-server with shellcheck reports an unquoted variable', async () => {
    await ws.call('lsp.diagnostics', { path: 'run.sh' });
    const ev = await diagnosticEvent('run.sh', (d) => d.some((x) => /quote/i.test(x.message)));
    expect(ev.diagnostics.find((x: any) => /quote/i.test(x.message)).range.start.line).toBe(1);
  }, 60_000);

  it('an unsaved edit through docs changes the diagnostics with no save', async () => {
    await ws.call('docs.open', { path: 'src/edit.ts' });
    const first = await ws.call('lsp.diagnostics', { path: 'src/edit.ts' });
    expect(first.files[0].diagnostics).toEqual([]);
    await ws.call('docs.applyEdits', { path: 'src/edit.ts', edits: [{ range: { start: { line: 0, character: 25 }, end: { line: 0, character: 26 } }, text: "'x'" }] });
    const ev = await diagnosticEvent('src/edit.ts', (d) => d.length > 0);
    expect(ev.diagnostics[0].range.start.line).toBe(0);
    expect(ev.diagnostics[0].message).toMatch(/not assignable/);
    expect(readFileSync(join(s.root, 'src/edit.ts'), 'utf8')).toBe(files['src/edit.ts']); // never saved
  }, 60_000);

  it('a live document opened before its server starts is synced to it (unsaved edit included)', async () => {
    writeFileSync(join(s.root, 'late.py'), 'x = 1\n');
    await ws.call('docs.open', { path: 'late.py' });
    await ws.call('docs.applyEdits', { path: 'late.py', edits: [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 5 } }, text: 'print(late_undefined)' }] });
    expect((await ws.call('lsp.status', {})).servers.find((x: any) => x.languageId === 'python').state).toBe('stopped');
    await ws.call('lsp.diagnostics', { path: 'late.py' });
    const ev = await diagnosticEvent('late.py', (d) => d.some((x) => /late_undefined/.test(x.message)));
    expect(ev.diagnostics[0].range.start.line).toBe(0);
    expect(readFileSync(join(s.root, 'late.py'), 'utf8')).toBe('x = 1\n');
  }, 60_000);

  it('a .py file with an undefined name yields a pyright diagnostic', async () => {
    await ws.call('lsp.diagnostics', { path: 'app.py' });
    const ev = await diagnosticEvent('app.py', (d) => d.some((x) => /undefined_name/.test(x.message)));
    const d = ev.diagnostics.find((x: any) => /undefined_name/.test(x.message));
    expect(d.range.start.line).toBe(0);
    expect(d.source).toMatch(/pyright|Pyright/);
  }, 60_000);

  it('lsp.status lists the running servers with their pids', async () => {
    const st = await ws.call('lsp.status', {});
    const ts = st.servers.find((x: any) => x.languageId === 'typescript');
    expect(ts.state).toBe('ready');
    expect(ts.pid).toBeGreaterThan(0);
    expect(ts.languageIds).toContain('javascript');
  });

  it('hostile params: a path outside, a line past the end, huge numbers → errors naming the field', async () => {
    const out = await rpcError(ws.call('lsp.hover', { path: '../outside.ts', position: { line: 0, character: 0 } }));
    expect(out.data.code).toBe('PATH_OUTSIDE_WORKSPACE');
    const past = await rpcError(ws.call('lsp.hover', { path: 'src/main.ts', position: { line: 5000, character: 0 } }));
    expect(past.code).toBe(-32602);
    expect(past.data.field).toBe('position.line');
    const huge = await rpcError(ws.call('lsp.completion', { path: 'src/main.ts', position: { line: 1e12, character: 0 } }));
    expect(huge.code).toBe(-32602);
    expect(huge.data.field).toBe('position.line');
    const hugeChar = await rpcError(ws.call('lsp.completion', { path: 'src/main.ts', position: { line: 0, character: 2 ** 40 } }));
    expect(hugeChar.data.field).toBe('position.character');
    // a character past the line's end is the line's end (LSP rule), not an error
    const clamped = await ws.call('lsp.hover', { path: 'src/main.ts', position: { line: 1, character: 2 ** 31 - 1 } });
    expect(clamped === null || typeof clamped.contents === 'string').toBe(true);
    const noLang = await rpcError(ws.call('lsp.hover', { path: 'notes.txt', position: { line: 0, character: 0 } }));
    expect(noLang.data.field).toBe('path');
    const unknown = await rpcError(ws.call('lsp.workspaceSymbols', { query: 'x', language: 'cobol' }));
    expect(unknown.data.code).toBe('NOT_FOUND');
  }, 60_000);
});

/** `icpy diagnostics` / `icpy symbols` as subprocesses (needs `npm run build`). */


describe('icpy diagnostics / symbols', () => {
  it('icpy diagnostics PATH prints FILE:LINE:COL lines (relative to the current folder) and exits 1 on an error', async () => {
    const rt = mkdtempSync(join(tmpdir(), 'icpy-rt-'));
    try {
      const r = await icpy(['diagnostics', 'main.ts'], join(s.root, 'src'), rt);
      expect(r.stderr).toBe('icpy: 1 error, 0 warnings in 1 file\n');
      expect(r.stdout).toMatch(/^main\.ts:2:7 error Type 'string' is not assignable to type 'number'\. \[typescript 2322\]$/m);
      expect(r.code).toBe(1);
      const clean = await icpy(['diagnostics', 'src/util.ts'], s.root, rt);
      expect(clean.stdout).toBe('');
      expect(clean.code).toBe(0);
      const all = await icpy(['diagnostics', '--json'], s.root, rt);
      expect(JSON.parse(all.stdout).files.map((f: any) => f.path)).toContain('src/main.ts');
    } finally {
      rmSync(rt, { recursive: true, force: true });
    }
  }, 90_000);

  it('icpy symbols QUERY finds a function across the workspace', async () => {
    const rt = mkdtempSync(join(tmpdir(), 'icpy-rt-'));
    try {
      const r = await icpy(['symbols', 'greet', '--language', 'typescript'], s.root, rt);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^greet\s+function\s+src\/util\.ts:1:\d+/m);
      expect(r.code).toBe(0);
    } finally {
      rmSync(rt, { recursive: true, force: true });
    }
  }, 90_000);
});
