import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { compilePathRule, type Principal } from '../src/core/principal.js';
import type { Scope } from '../src/core/rpc/index.js';
import { connect, RpcError, rpcError, startServer, type TestServer, type WsClient } from './helpers/server.js';

// Path limits (issue 13, slice "paths"): an agent limited to src/** over every transport.
const AGENT_TOKEN = 'agent-src-token';
const agent: Principal = Object.freeze({
  id: 'agent:t1',
  kind: 'agent',
  name: 'src-agent',
  scopes: new Set<Scope>(['read', 'write', 'execute']),
  paths: compilePathRule(['src/**']),
});

let s: TestServer;
let root: string;
const clients: WsClient[] = [];

/** JSON-RPC over HTTP with the agent's credential. */
const agentCall = (method: string, params?: unknown): Promise<any> => s.callAs(AGENT_TOKEN, method, params);

async function ws(token: string, name: string): Promise<WsClient> {
  const c = await connect(s, { token, name });
  clients.push(c);
  return c;
}

/** Close code and reason of a raw WebSocket the server closes (or 'open' after the first message). */
function closeOf(url: string): Promise<{ code: number; reason: string } | 'open'> {
  return new Promise((resolve, reject) => {
    const sock = new WebSocket(url);
    sock.once('message', () => {
      resolve('open');
      sock.close();
    });
    sock.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    sock.once('error', reject);
  });
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'icpy-paths-'));
  mkdirSync(join(root, 'src'));
  mkdirSync(join(root, 'secret'));
  writeFileSync(join(root, 'src', 'a.ts'), 'export const a = 1; // TOPSECRET-inside\n');
  writeFileSync(join(root, 'secret', 'key.txt'), 'TOPSECRET\n');
  writeFileSync(join(root, 'README.md'), '# readme\n');
  symlinkSync('../secret/key.txt', join(root, 'src', 'link-file'));
  symlinkSync('../secret', join(root, 'src', 'link-dir'));
  s = await startServer({ root, historyEvents: 10_000 }, { authenticate: (t) => (t === AGENT_TOKEN ? agent : undefined) });
});

afterAll(async () => {
  for (const c of clients) await c.close();
  await s.close();
  rmSync(root, { recursive: true, force: true });
});

function expectPathsRefusal(err: RpcError, path?: string): void {
  expect(err.code).toBe(-32003);
  expect(err.data).toMatchObject({ reason: 'paths', paths: ['src/**'] });
  if (path !== undefined) expect(err.data.path).toBe(path);
}

describe('a path-limited principal (src/**) cannot reach outside its paths', () => {
  it('cannot read, stat, list or write outside, named directly', async () => {
    expectPathsRefusal(await rpcError(agentCall('files.read', { path: 'secret/key.txt' })), 'secret/key.txt');
    expectPathsRefusal(await rpcError(agentCall('files.stat', { path: 'secret/key.txt' })));
    expectPathsRefusal(await rpcError(agentCall('files.list', { path: 'secret' })));
    expectPathsRefusal(await rpcError(agentCall('files.read', { path: 'src/../secret/key.txt' })), 'secret/key.txt');
    expectPathsRefusal(await rpcError(agentCall('files.write', { path: 'README.md', content: 'x' })));
    expect((await agentCall('files.read', { path: 'src/a.ts' })).content).toContain('export const a');
  });

  it('cannot go through a symlink inside its paths that leads outside (file and folder)', async () => {
    const read = await rpcError(agentCall('files.read', { path: 'src/link-file' }));
    expectPathsRefusal(read, 'src/link-file');
    expect(read.data.real).toBe('secret/key.txt');
    expect(read.message).toMatch(/symlink/);
    expectPathsRefusal(await rpcError(agentCall('files.stat', { path: 'src/link-file' })));
    expectPathsRefusal(await rpcError(agentCall('files.list', { path: 'src/link-dir' })));
    expectPathsRefusal(await rpcError(agentCall('files.read', { path: 'src/link-dir/key.txt' })));
    expectPathsRefusal(await rpcError(agentCall('files.write', { path: 'src/link-dir/planted.txt', content: 'x' })));
    expectPathsRefusal(await rpcError(agentCall('files.write', { path: 'src/link-file', content: 'overwritten' })));
    expect(readFileSync(join(root, 'secret', 'key.txt'), 'utf8')).toBe('TOPSECRET\n');
    expectPathsRefusal(await rpcError(agentCall('files.copy', { from: 'src/link-file', to: 'src/copy.txt' })));
    expectPathsRefusal(await rpcError(agentCall('docs.get', { path: 'src/link-file' })));
    // REST goes through the same dispatcher path.
    const rest = await fetch(`${s.url}/api/files/src/link-file`, { headers: { authorization: `Bearer ${AGENT_TOKEN}` } });
    expect(rest.status).toBe(403);
    expect(await rest.text()).not.toContain('TOPSECRET');
    const put = await fetch(`${s.url}/api/files/secret/new.txt`, { method: 'PUT', headers: { authorization: `Bearer ${AGENT_TOKEN}` }, body: 'x' });
    expect(put.status).toBe(403);
  });

  it('cannot move or copy across its limits, either way', async () => {
    expectPathsRefusal(await rpcError(agentCall('files.move', { from: 'src/a.ts', to: 'secret/a.ts' })), 'secret/a.ts');
    expectPathsRefusal(await rpcError(agentCall('files.copy', { from: 'secret/key.txt', to: 'src/key.txt' })), 'secret/key.txt');
  });

  it('sees only allowed entries when listing the root, and only allowed hits in find and search', async () => {
    const list = await agentCall('files.list', { path: '' });
    expect(list.entries.map((e: any) => e.path)).toEqual(['src']);
    const find = await agentCall('files.find', { query: '' });
    expect(find.results.length).toBeGreaterThan(0);
    for (const r of find.results) expect(r.path.startsWith('src/')).toBe(true);
    const search = await agentCall('files.search', { query: 'TOPSECRET' });
    expect(search.results.map((r: any) => r.path)).toEqual(['src/a.ts']);
    // The owner sees what the agent may not (the filter is per principal).
    expect((await s.call('files.search', { query: 'TOPSECRET' })).results.map((r: any) => r.path)).toContain('secret/key.txt');
  });

  it('is refused methods that declare no path rule (closed by default)', async () => {
    const err = await rpcError(agentCall('workspace.setLayout', { layout: {}, expectedVersion: 0 }));
    expect(err.code).toBe(-32003);
    expect(err.data).toMatchObject({ reason: 'paths', method: 'workspace.setLayout' });
    // Path-free methods still work.
    expect((await agentCall('server.info')).name).toBe('icpy');
  });

  it('every method declares a path rule or is path-free, except the listed closed ones', () => {
    const closed = ['workspace.deleteLayout', 'workspace.saveLayout', 'workspace.setLayout', 'workspace.switchLayout'];
    const undeclared = s.app.registry
      .list()
      .filter((d) => !d.paths && !d.pathFree)
      .map((d) => d.name);
    expect(undeclared.sort()).toEqual(closed);
    const undeclaredEvents = s.app.registry
      .listEvents()
      .filter((d) => !d.paths && !d.pathFree)
      .map((d) => d.topic);
    expect(undeclaredEvents.sort()).toEqual(['workspace.layout.changed', 'workspace.layout.deleted', 'workspace.layout.saved', 'workspace.layout.switched']);
  });
});

describe('events are filtered by the same path limits', () => {
  it('WS subscribe: no fs events outside; a file renamed out shows only its leaving; a folder renamed out likewise; no custom topics', async () => {
    const a = await ws(AGENT_TOKEN, 'watcher');
    await a.call('events.subscribe', { patterns: ['fs.**', 'client.**'] });
    await s.call('files.write', { path: 'secret/hidden.txt', content: 'no' });
    await s.call('files.write', { path: 'src/moving.txt', content: 'm' });
    await s.call('files.move', { from: 'src/moving.txt', to: 'secret/moving.txt' });
    await s.call('files.mkdir', { path: 'src/dir' });
    await s.call('files.move', { from: 'src/dir', to: 'secret/dir' });
    await s.call('events.emit', { topic: 'client.note', data: { path: 'secret/hidden.txt' } });
    await s.call('files.write', { path: 'src/marker.txt', content: 'done' });
    await a.waitFor(() => a.events().some((e) => e.data.paths?.includes('src/marker.txt')), 10_000, 'marker');
    const seen = a.events();
    const all = seen.flatMap((e) => (e.data.paths ?? ['(no paths)']).map((p: string) => `${e.topic} ${p}`));
    for (const line of all) expect(line).toMatch(/ src\//);
    expect(all).toContain('fs.file.created src/moving.txt');
    expect(all).toContain('fs.file.deleted src/moving.txt');
    expect(all).toContain('fs.dir.deleted src/dir');
    expect(seen.some((e) => e.topic.startsWith('client.'))).toBe(false);
    // Filtered events leave gaps in seq (the log's seq still rises by one per event).
    const seqs = seen.map((e) => e.seq);
    expect(seqs[seqs.length - 1] - seqs[0] + 1).toBeGreaterThan(seqs.length);
  });

  it('events.history and SSE deliver nothing outside', async () => {
    await s.call('files.write', { path: 'secret/h2.txt', content: 'no' });
    await s.call('files.write', { path: 'src/h2.txt', content: 'yes' });
    const h = await agentCall('events.history', { since: 0, patterns: ['fs.**', 'client.**'] });
    expect(h.events.length).toBeGreaterThan(0);
    for (const e of h.events) for (const p of e.data.paths) expect(p.startsWith('src/')).toBe(true);
    expect(h.events.some((e: any) => e.data.paths.includes('src/h2.txt'))).toBe(true);
    // The owner's history holds the hidden ones.
    expect((await s.call('events.history', { since: 0, patterns: ['fs.**'] })).events.some((e: any) => e.data.paths.includes('secret/h2.txt'))).toBe(true);

    const ac = new AbortController();
    const res = await fetch(`${s.url}/api/events?patterns=fs.**&since=0`, { headers: { authorization: `Bearer ${AGENT_TOKEN}` }, signal: ac.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let buf = '';
    while (!buf.includes('src/h2.txt')) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
    }
    await reader.cancel();
    ac.abort();
    expect(buf).toContain('src/h2.txt');
    expect(buf).not.toContain('secret/');
  });

  it('presence about a file outside is not delivered, nor listed', async () => {
    const a = await ws(AGENT_TOKEN, 'presence-watcher');
    await a.call('events.subscribe', { patterns: ['presence.**'] });
    const human1 = await ws(s.token, 'ada');
    const human2 = await ws(s.token, 'bob');
    await human1.call('presence.update', { activeFile: 'secret/key.txt', cursor: { line: 0, character: 1 } });
    await human2.call('presence.update', { activeFile: 'src/a.ts', cursor: { line: 0, character: 2 } });
    await a.waitFor(() => a.events().some((e) => e.data.entry?.activeFile === 'src/a.ts'), 10_000, 'presence in src');
    expect(a.events().some((e) => e.data.entry?.activeFile === 'secret/key.txt')).toBe(false);
    const list = await agentCall('presence.list', {});
    expect(list.some((e: any) => e.activeFile === 'src/a.ts')).toBe(true);
    expect(list.some((e: any) => e.activeFile === 'secret/key.txt')).toBe(false);
    expect((await s.call('presence.list', {})).some((e: any) => e.activeFile === 'secret/key.txt')).toBe(true);
  });
});

describe('live sockets outside the method path', () => {
  const yjsUrl = (path: string, token: string) => `${s.url.replace(/^http/, 'ws')}/api/yjs/${path}?token=${token}`;

  it('a yjs room outside its paths (named, or through a link) is refused with 4403; inside one opens', async () => {
    const out = await closeOf(yjsUrl('secret/key.txt', AGENT_TOKEN));
    expect(out).toMatchObject({ code: 4403 });
    expect((out as { reason: string }).reason).toMatch(/src-agent|outside/);
    expect(await closeOf(yjsUrl('src/link-file', AGENT_TOKEN))).toMatchObject({ code: 4403 });
    expect(await closeOf(yjsUrl('src/a.ts', AGENT_TOKEN))).toBe('open');
    expect(await closeOf(yjsUrl('secret/key.txt', s.token))).toBe('open');
  });

  it('raw LSP is refused to a path-limited principal (4403)', async () => {
    const r = await closeOf(`${s.url.replace(/^http/, 'ws')}/api/lsp/typescript?token=${AGENT_TOKEN}`);
    expect(r).toMatchObject({ code: 4403 });
    expect((r as { reason: string }).reason).toMatch(/filtered by path/);
  });
});
