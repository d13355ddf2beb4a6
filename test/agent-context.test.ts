import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { connect, startServer, type TestServer, type WsClient } from './helpers/server.js';
import { until } from './helpers/until.js';
import { provider, type Client } from './helpers/yjs.js';

/**
 * Agents are visible and see where the human is (issue 13, slice "context"), over real sockets:
 * unmodified y-websocket providers as the human's editor, agents over HTTP and WebSocket, the real
 * typescript-language-server for diagnostics, real PTYs for terminals.
 */
let s: TestServer;
let watcher: WsClient;
const sockets: WsClient[] = [];
const providers: Client[] = [];

const files: Record<string, string> = {
  'tsconfig.json': JSON.stringify({ compilerOptions: { strict: true, target: 'es2022', module: 'esnext', moduleResolution: 'bundler', noEmit: true, types: [] }, include: ['src'] }),
  'src/app.ts': 'const a = 1;\nconst b = 2;\n',
  'src/b.ts': 'export const x = 1;\nexport const y = 2;\n',
  'src/broken.ts': "export const n: number = 'oops';\n",
};

let root: string;
beforeAll(async () => {
  // The files exist before the server starts: written after it, they were another program's
  // changes, and on a loaded machine the watcher's late report of one (source `disk`) could come
  // first among the events a test looks for.
  root = mkdtempSync(join(tmpdir(), 'icpy-agent-context-'));
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  s = await startServer({ root, docs: { saveDebounceMs: 60_000, saveMaxDelayMs: 60_000 } });
  watcher = await connect(s, { kind: 'browser', name: 'watcher' });
  await watcher.call('events.subscribe', { patterns: ['**'] });
}, 30_000);

afterAll(async () => {
  for (const p of providers) p.destroy();
  for (const c of sockets) await c.close();
  await watcher?.close();
  await s?.close();
  if (root) rmSync(root, { recursive: true, force: true });
}, 30_000);

async function human(path: string): Promise<Client & { deltas: unknown[][] }> {
  const c = provider(s, path);
  providers.push(c);
  await c.synced();
  const deltas: unknown[][] = [];
  c.text.observe((ev, tr) => {
    if (!tr.local) deltas.push(ev.delta);
  });
  return Object.assign(c, { deltas });
}

async function wsAgent(name: string): Promise<WsClient> {
  const c = await connect(s, { kind: 'agent', name });
  sockets.push(c);
  return c;
}

function httpAgent(name: string) {
  let id = 1;
  return async (method: string, params: unknown) => {
    const r = await s.rpc({ jsonrpc: '2.0', id: id++, method, params }, { headers: { 'x-icpy-client-kind': 'agent', 'x-icpy-client-name': name } });
    if (r.body.error) throw Object.assign(new Error(r.body.error.message), r.body.error);
    return r.body.result;
  };
}

const others = (c: Client) => [...c.awareness.getStates()].filter(([id]) => id !== c.doc.clientID).map(([, st]) => st as Record<string, any>);
const indexOf = (c: Client, rel: Y.RelativePosition) => Y.createAbsolutePositionFromRelativePosition(rel, c.doc)?.index;

describe('agents are visible', () => {
  it('docs.applyEdits over HTTP (X-Icpy-Client-Kind: agent) reaches an open editor as the small insert, keeps the human\'s cursor, is attributed, and shows the agent in awareness and presence.list', async () => {
    const ed = await human('src/app.ts');
    const text = files['src/app.ts']!;
    const cursor = Y.createRelativePositionFromTypeIndex(ed.text, text.indexOf('const b'));
    const call = httpAgent('fixer');
    await call('docs.applyEdits', { path: 'src/app.ts', edits: [{ range: { start: { line: 0, character: 12 }, end: { line: 0, character: 12 } }, text: ' // ok' }] });
    const want = 'const a = 1; // ok\nconst b = 2;\n';
    await until(() => ed.text.toString() === want, 'the edit in the editor');
    expect(ed.deltas).toEqual([[{ retain: 12 }, { insert: ' // ok' }]]);
    expect(indexOf(ed, cursor)).toBe(want.indexOf('const b'));

    const ev = await watcher.waitFor(() => watcher.events().find((e) => e.topic === 'docs.changed' && e.data.path === 'src/app.ts'), 5000, 'docs.changed');
    expect(ev.source).toMatchObject({ kind: 'agent', name: 'fixer' });

    const seen = await until(() => others(ed).find((st) => st.user?.name === 'fixer'), 'the agent in awareness');
    expect(seen.user).toMatchObject({ kind: 'agent', color: expect.stringMatching(/^#/) });
    expect(indexOf(ed, Y.createRelativePositionFromJSON(seen.cursor.head))).toBe('const a = 1; // ok'.length);
    const list = await watcher.call('presence.list', {});
    expect(list.find((e: any) => e.name === 'fixer')).toMatchObject({ kind: 'agent', via: 'rpc', activeFile: 'src/app.ts', cursor: { line: 0, character: 18 } });
    ed.destroy();
  });

  it('files.write over WS (?kind=agent) to an open document merges in place, is attributed, and puts the agent\'s cursor at the end of its change', async () => {
    const ed = await human('src/b.ts');
    const text = files['src/b.ts']!;
    const cursor = Y.createRelativePositionFromTypeIndex(ed.text, text.indexOf('export const y'));
    const agent = await wsAgent('writer');
    const next = 'export const x = 1; // z\nexport const y = 2;\n';
    await agent.call('files.write', { path: 'src/b.ts', content: next });
    await until(() => ed.text.toString() === next, 'the write merged into the editor');
    expect(ed.deltas).toEqual([[{ retain: 19 }, { insert: ' // z' }]]);
    expect(indexOf(ed, cursor)).toBe(next.indexOf('export const y'));

    const ev = await watcher.waitFor(() => watcher.events().find((e) => e.topic === 'fs.file.changed' && e.data.paths.includes('src/b.ts')), 5000, 'fs.file.changed');
    expect(ev.source).toMatchObject({ kind: 'agent', name: 'writer', connectionId: expect.stringMatching(/./) });

    const seen = await until(() => others(ed).find((st) => st.user?.name === 'writer' && st.cursor), 'the writer with a cursor in awareness');
    expect(seen.user.kind).toBe('agent');
    expect(indexOf(ed, Y.createRelativePositionFromJSON(seen.cursor.head))).toBe('export const x = 1; // z'.length);
    const entry = await until(async () => (await watcher.call('presence.list', { path: 'src/b.ts' })).find((e: any) => e.name === 'writer' && e.cursor), 'writer in presence.list');
    expect(entry).toMatchObject({ kind: 'agent', activeFile: 'src/b.ts', cursor: { line: 0, character: 24 } });

    await agent.close();
    await until(() => !others(ed).some((st) => st.user?.name === 'writer'), 'the writer gone when it disconnects');
    ed.destroy();
  });

  it('an agent that reads a file shows in presence at it', async () => {
    const agent = await wsAgent('reader');
    await agent.call('files.read', { path: 'src/app.ts' });
    const entry = await until(async () => (await watcher.call('presence.list', {})).find((e: any) => e.name === 'reader'), 'reader in presence.list');
    expect(entry).toMatchObject({ kind: 'agent', activeFile: 'src/app.ts' });
  });
});

describe('agents.context', () => {
  it('returns the browser\'s active file, cursor and selection (awareness), the open editors, diagnostics of a .ts file with a type error, and the terminals', async () => {
    for (const p of providers) p.destroy();
    providers.length = 0;
    const ada = await human('src/broken.ts');
    const text = files['src/broken.ts']!;
    await watcher.call('workspace.openFile', { path: 'src/broken.ts' });
    // What the human's editor does: its language features ask for the open file's diagnostics.
    await watcher.call('lsp.diagnostics', { path: 'src/broken.ts' });
    const term = await watcher.call('terminal.create', { cwd: 'src', name: 'build', cols: 80, rows: 24 });
    ada.awareness.setLocalStateField('user', { name: 'Ada', color: '#ff8800' });
    ada.awareness.setLocalStateField('cursor', {
      anchor: Y.createRelativePositionFromTypeIndex(ada.text, text.indexOf('number')),
      head: Y.createRelativePositionFromTypeIndex(ada.text, text.indexOf('number') + 6),
    });

    const agent = await wsAgent('helper');
    const ctx = await until(async () => {
      const c = await agent.call('agents.context', {});
      return c.human.name === 'Ada' && c.human.selection && c.diagnostics.files.length > 0 && c;
    }, 'the human and the diagnostics in agents.context', 45_000);
    const col = text.indexOf('number');
    expect(ctx.human).toMatchObject({
      from: 'presence',
      name: 'Ada',
      kind: 'browser',
      activeFile: 'src/broken.ts',
      cursor: { line: 0, character: col + 6 },
      selection: { anchor: { line: 0, character: col }, head: { line: 0, character: col + 6 } },
    });
    expect(ctx.editors).toMatchObject({ active: 'src/broken.ts' });
    expect(ctx.editors.open).toContain('src/broken.ts');
    expect(ctx.humans.find((h: any) => h.name === 'Ada')).toMatchObject({ kind: 'browser', color: '#ff8800', files: ['src/broken.ts'] });
    expect(ctx.humans.some((h: any) => h.name === 'helper')).toBe(false); // agents are not humans
    const [first] = ctx.diagnostics.files;
    expect(first).toMatchObject({ path: 'src/broken.ts', open: true, counts: { error: 1 } });
    expect(first.diagnostics[0]).toMatchObject({ severity: 1, range: { start: { line: 0 } } });
    expect(first.diagnostics[0].message).toMatch(/not assignable to type 'number'/);
    expect(ctx.terminals.find((t: any) => t.id === term.id)).toMatchObject({ name: 'build', cwd: 'src', status: 'running', exitCode: null });

    // Bounded: maxDiagnostics 0 lists none but still counts them.
    const none = await agent.call('agents.context', { maxDiagnostics: 0 });
    expect(none.diagnostics).toMatchObject({ files: [], truncated: true });
    expect(none.diagnostics.total).toBeGreaterThan(0);

    // With no human presence, the shared workspace state: active editor and its newest cursor (1-based there, LSP here).
    ada.destroy();
    providers.length = 0;
    await watcher.call('workspace.setCursor', { path: 'src/broken.ts', line: 1, column: 8 });
    const fallback = await until(async () => {
      const c = await agent.call('agents.context', {});
      return c.human.from === 'workspace' && c;
    }, 'the workspace fallback');
    expect(fallback.human).toMatchObject({ from: 'workspace', activeFile: 'src/broken.ts', cursor: { line: 0, character: 7 }, name: 'watcher' });
    await watcher.call('terminal.close', { id: term.id });
  }, 60_000);
});

describe('agents.activity', () => {
  it('lists each agent\'s calls with paths, command preview, outcome and duration, filtered by agent and since; humans\' calls are not recorded', async () => {
    const bot = httpAgent('bot');
    await bot('files.read', { path: 'src/app.ts' });
    await expect(bot('files.read', { path: 'missing.txt' })).rejects.toMatchObject({ data: expect.anything() });
    const long = 'x'.repeat(300);
    await expect(bot('terminal.write', { id: 'no-such-terminal', data: long })).rejects.toBeTruthy();
    await watcher.call('files.read', { path: 'src/app.ts' }); // a browser: not an agent

    const all = await watcher.call('agents.activity', { agent: 'bot' });
    expect(all.entries.map((e: any) => [e.method, e.outcome])).toEqual([
      ['files.read', 'ok'],
      ['files.read', 'error'],
      ['terminal.write', 'error'],
    ]);
    const [ok, missing, typed] = all.entries;
    expect(ok).toMatchObject({ agent: 'bot', principalId: 'owner', transport: 'http', paths: ['src/app.ts'] });
    expect(ok.ms).toBeGreaterThanOrEqual(0);
    expect(missing).toMatchObject({ code: 'FILE_NOT_FOUND', paths: ['missing.txt'] });
    expect(typed.command).toBe(long.slice(0, 200));
    expect(typed.code).toMatch(/NOT_FOUND/);
    expect(all.next).toBe(typed.id);
    expect(all.more).toBe(false);

    const later = await watcher.call('agents.activity', { agent: 'bot', since: ok.id });
    expect(later.entries.map((e: any) => e.id)).toEqual([missing.id, typed.id]);
    const page = await watcher.call('agents.activity', { agent: 'bot', since: ok.id, limit: 1 });
    expect(page).toMatchObject({ entries: [{ id: missing.id }], next: missing.id, more: true });

    // Every agent from the earlier tests is in the log; no browser call is.
    const everyone = await watcher.call('agents.activity', { limit: 1000 });
    const names = new Set(everyone.entries.map((e: any) => e.agent));
    for (const n of ['fixer', 'writer', 'reader', 'helper', 'bot']) expect(names).toContain(n);
    expect(names.has('watcher')).toBe(false);
    expect(everyone.entries.find((e: any) => e.agent === 'writer' && e.method === 'files.write')).toMatchObject({ transport: 'ws', outcome: 'ok', paths: ['src/b.ts'] });
  });

  it('stays bounded by agents.activityRows (the oldest dropped first)', async () => {
    const small = await startServer({ agents: { activityRows: 5 } });
    try {
      const call = async (i: number) => {
        const r = await small.rpc({ jsonrpc: '2.0', id: i, method: 'server.info', params: {} }, { headers: { 'x-icpy-client-kind': 'agent', 'x-icpy-client-name': 'busy' } });
        expect(r.body.result).toBeTruthy();
      };
      for (let i = 1; i <= 12; i++) await call(i);
      const r = await small.call('agents.activity', { limit: 1000 });
      expect(r.entries.map((e: any) => e.id)).toEqual([8, 9, 10, 11, 12]);
      expect(r.entries.every((e: any) => e.agent === 'busy' && e.method === 'server.info')).toBe(true);
    } finally {
      await small.close();
    }
  });
});
