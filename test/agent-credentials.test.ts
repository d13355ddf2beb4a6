import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { connect, rpcError, startServer, type TestServer, type WsClient } from './helpers/server.js';
import { until } from './helpers/until.js';
import { provider } from './helpers/yjs.js';
import { ALL_SCOPES, ownerPrincipal } from '../src/core/principal.js';
import { toolsFor } from '../src/core/rpc/tools.js';
import { icpy } from './helpers/cli.js';

/**
 * Agent credentials end to end (issue 13): minted by the owner, stored hashed, acting as a named
 * agent with its scopes on every transport, and cut off at once when revoked or expired.
 * CLI cases run the built `bin/icpy.js` (npm run build first).
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HANGING = join(ROOT, 'test', 'helpers', 'hanging-lsp.mjs');

function cleanEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ICPY_') && k !== 'NO_COLOR') env[k] = v;
  return { ...env, ...extra };
}


interface Cred {
  id: string;
  name: string;
  token: string;
  scopes: string[];
  paths: string[] | null;
  expiresAt: number | null;
}

let seq = 0;
const uniq = (base: string) => `${base}-${++seq}`;

async function http(s: TestServer, method: string, path: string, token: string, body?: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${s.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...headers }, body });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

/** An SSE stream as a client reads it: chunks so far, and when it ended. */
async function sse(s: TestServer, token: string): Promise<{ text: () => string; ended: Promise<number>; abort: () => void }> {
  const ac = new AbortController();
  const res = await fetch(`${s.url}/api/events?patterns=**`, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
  expect(res.status).toBe(200);
  let text = '';
  const reader = res.body!.getReader();
  const ended = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString('utf8');
      }
    } catch {
      // aborted
    }
    return Date.now();
  })();
  await until(() => text.includes(': subscribed'), 'SSE subscribed');
  return { text: () => text, ended, abort: () => ac.abort() };
}

describe('agent credentials', () => {
  let s: TestServer;
  let owner: WsClient;
  let runtimeDir: string;

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'transports', 'cli', 'main.js'))) throw new Error('run `npm run build` before this test');
    runtimeDir = mkdtempSync(join(tmpdir(), 'icpy-cred-rt-'));
    s = await startServer({
      lsp: { languages: [{ id: 'hang', extensions: ['.hang'], command: [process.execPath, HANGING], package: 'hang-ls (test fixture)' }] },
    });
    // The runtime file `icpy serve` writes (with the owner's token): the CLI finds the server by it.
    writeFileSync(join(runtimeDir, `server-${process.pid}.json`), JSON.stringify({ url: s.url, token: s.token, root: s.root, pid: process.pid, startedAt: Date.now(), version: 'test' }), {
      mode: 0o600,
    });
    writeFileSync(join(s.root, 'a.txt'), 'original\n');
    writeFileSync(join(s.root, 'h.hang'), 'hang text\n');
    owner = await connect(s, { kind: 'browser', name: 'human' });
    await owner.call('events.subscribe', { patterns: ['fs.**', 'agents.token.*', 'connection.*', 'files.**', 'exec.started'] });
  });

  afterAll(async () => {
    await owner?.close();
    await s?.close();
    if (runtimeDir) rmSync(runtimeDir, { recursive: true, force: true });
  });

  const mint = (params: Record<string, unknown>): Promise<Cred> => s.call('agents.tokens.create', params);

  it('create, list and revoke over JSON-RPC; events never carry the token; bad params name their field', async () => {
    const name = uniq('rpc-bot');
    const c = await mint({ name, scopes: ['read', 'write'], paths: ['src/**'], expiresIn: '7d' });
    expect(c.token).toMatch(new RegExp(`^icpy_agent_${c.id}_[A-Za-z0-9_-]{43}$`));
    expect(c).toMatchObject({ name, scopes: ['read', 'write'], paths: ['src/**'] });
    expect(c.expiresAt! - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
    const listed = await s.call('agents.tokens.list', {});
    const mine = listed.find((x: any) => x.id === c.id);
    expect(mine).toMatchObject({ name, scopes: ['read', 'write'] });
    expect(JSON.stringify(listed)).not.toContain(c.token);
    expect(mine.token).toBeUndefined();

    const revoked = await s.call('agents.tokens.revoke', { name });
    expect(revoked.id).toBe(c.id);
    expect((await s.call('agents.tokens.list', {})).some((x: any) => x.id === c.id)).toBe(false);
    const again = await rpcError(s.call('agents.tokens.revoke', { id: c.id }));
    expect(again.data).toMatchObject({ code: 'CREDENTIAL_NOT_FOUND', id: c.id });

    const evs = await owner.waitFor(() => {
      const e = owner.events().filter((e) => e.data?.id === c.id);
      return e.length >= 2 && e;
    }, 5000, 'token events');
    expect(evs.map((e: any) => e.topic)).toEqual(['agents.token.created', 'agents.token.revoked']);
    expect(evs[1].data.reason).toBe('revoked');
    expect(JSON.stringify(evs)).not.toContain(c.token.slice(-43));

    for (const [params, field] of [
      [{ name: 'bad name', scopes: ['read'] }, 'name'],
      [{ name: uniq('x'), scopes: ['read'], paths: ['../out'] }, 'paths'],
      [{ name: uniq('x'), scopes: ['read'], expiresIn: 'soon' }, 'expiresIn'],
      [{ name: uniq('x'), scopes: ['root'] }, 'scopes'],
    ] as const) {
      const e = await rpcError(s.call('agents.tokens.create', params));
      expect({ field: e.data.field, code: e.code }).toEqual({ field: expect.stringContaining(field), code: -32602 });
    }
  });

  it('the token is not stored in clear: the SQLite files hold its SHA-256, never the secret', async () => {
    const c = await mint({ name: uniq('hashed'), scopes: ['read'] });
    const secret = c.token.slice(`icpy_agent_${c.id}_`.length);
    const dir = join(s.root, '.icpy');
    const bytes = Buffer.concat(['credentials.db', 'credentials.db-wal'].filter((f) => existsSync(join(dir, f))).map((f) => readFileSync(join(dir, f))));
    expect(bytes.includes(Buffer.from(c.id))).toBe(true); // the row is there…
    expect(bytes.includes(Buffer.from(createHash('sha256').update(secret).digest('hex')))).toBe(true); // …with the hash
    expect(bytes.includes(Buffer.from(secret))).toBe(false);
    expect(bytes.includes(Buffer.from(c.token))).toBe(false);
  });

  it("icpy's state databases are not readable through the API, by an agent or the owner", async () => {
    const c = await mint({ name: uniq('peek'), scopes: ['read'] });
    for (const token of [c.token, s.token]) {
      for (const path of ['.icpy/credentials.db', '.icpy/credentials.db-wal', './.icpy/../.icpy/credentials.db']) {
        const res = await http(s, 'POST', '/api/rpc/files.read', token, JSON.stringify({ path }));
        expect(res.status, path).toBe(403);
        expect(res.text).toContain('"reason":"state"');
      }
      const rest = await http(s, 'GET', '/api/files/.icpy/credentials.db', token);
      expect(rest.status).toBe(403);
    }
  });

  it('a read-only credential is refused a write on every transport, and reads still work', async () => {
    const c = await mint({ name: uniq('reader'), scopes: ['read'] });
    const refusedScope = (e: any) => expect(e).toMatchObject({ reason: 'scope', scope: 'write', method: expect.any(String) });

    // WebSocket JSON-RPC
    const ws = await connect(s, { token: c.token });
    try {
      const e = await rpcError(ws.call('files.write', { path: 'a.txt', content: 'ws' }));
      expect(e.code).toBe(-32003);
      expect(e.message).toContain(`'write' scope`);
      refusedScope(e.data);
      expect((await ws.call('files.read', { path: 'a.txt' })).content).toBe('original\n');
    } finally {
      await ws.close();
    }

    // POST /api/rpc and POST /api/rpc/{method}
    const r1 = await s.rpc({ jsonrpc: '2.0', id: 1, method: 'files.write', params: { path: 'a.txt', content: 'rpc' } }, { token: c.token });
    expect(r1.body.error.code).toBe(-32003);
    refusedScope(r1.body.error.data);
    const r2 = await http(s, 'POST', '/api/rpc/files.write', c.token, JSON.stringify({ path: 'a.txt', content: 'rest-rpc' }));
    expect(r2.status).toBe(403);
    refusedScope(r2.json.error.data);
    expect((await http(s, 'POST', '/api/rpc/files.read', c.token, JSON.stringify({ path: 'a.txt' }))).json.content).toBe('original\n');

    // REST PUT and DELETE
    const put = await http(s, 'PUT', '/api/files/a.txt', c.token, 'put');
    expect(put.status).toBe(403);
    const del = await http(s, 'DELETE', '/api/files/a.txt', c.token);
    expect(del.status).toBe(403);
    expect(del.json.error.data.reason).toBe('scope');
    const get = await http(s, 'GET', '/api/files/a.txt', c.token);
    expect({ status: get.status, text: get.text }).toEqual({ status: 200, text: 'original\n' });

    // Yjs: syncing is reading; an update closes the peer with 4403, the file unchanged
    const y = provider(s, 'a.txt', { token: c.token });
    try {
      await y.synced();
      expect(y.text.toString()).toBe('original\n');
      y.text.insert(0, 'yjs ');
      await until(() => y.closes.find((x) => x.code === 4403), 'yjs 4403');
      expect(y.closes.find((x) => x.code === 4403)!.reason).toContain(`no 'write' scope`);
    } finally {
      y.destroy();
    }

    // Raw LSP: didOpen with other text and didChange would write the live document: refused
    const lsp = await connect({ wsUrl: s.url.replace(/^http/, 'ws') + '/api/lsp/hang', token: c.token });
    try {
      const uri = pathToFileURL(join(s.root, 'h.hang')).href;
      await lsp.call('initialize', { processId: null, rootUri: pathToFileURL(s.root).href, capabilities: {} });
      lsp.send({ jsonrpc: '2.0', method: 'initialized', params: {} });
      lsp.send({ jsonrpc: '2.0', method: 'textDocument/didOpen', params: { textDocument: { uri, languageId: 'hang', version: 1, text: 'hang text\n' } } });
      lsp.send({
        jsonrpc: '2.0',
        method: 'textDocument/didChange',
        params: { textDocument: { uri, version: 2 }, contentChanges: [{ text: 'changed by a reader\n' }] },
      });
      const msg = await lsp.waitFor(() => lsp.notifications.find((n) => n.method === 'window/showMessage'), 10_000, 'showMessage');
      expect(msg.params.message).toContain(`no 'write' scope`);
      // The live document (held open by this client) kept its text.
      expect((await s.call('docs.get', { path: 'h.hang' })).text).toBe('hang text\n');
    } finally {
      await lsp.close();
    }
    expect(readFileSync(join(s.root, 'h.hang'), 'utf8')).toBe('hang text\n');

    // CLI, finding the server through its runtime file, acting as the credential (ICPY_TOKEN)
    const env = cleanEnv({ ICPY_RUNTIME_DIR: runtimeDir, ICPY_TOKEN: c.token });
    const w = await icpy(['write', 'a.txt'], env, s.root, 'cli');
    expect(w.code).toBe(1);
    expect(w.stderr).toContain('FORBIDDEN');
    expect(w.stderr).toContain(`'write' scope`);
    const cat = await icpy(['cat', 'a.txt'], env, s.root);
    expect({ code: cat.code, out: cat.stdout }).toEqual({ code: 0, out: 'original\n' });

    expect(readFileSync(join(s.root, 'a.txt'), 'utf8')).toBe('original\n');
  }, 60_000);

  it('a path-limited credential (src/**) can neither read, search nor receive events outside its paths', async () => {
    mkdirSync(join(s.root, 'src'), { recursive: true });
    writeFileSync(join(s.root, 'src', 'in.txt'), 'needle inside\n');
    writeFileSync(join(s.root, 'secret.txt'), 'needle outside\n');
    symlinkSync(join(s.root, 'secret.txt'), join(s.root, 'src', 'link.txt'));
    const c = await mint({ name: uniq('src-bot'), scopes: ['read'], paths: ['src/**'] });
    const ws = await connect(s, { token: c.token });
    try {
      expect((await ws.call('files.read', { path: 'src/in.txt' })).content).toBe('needle inside\n');
      for (const path of ['secret.txt', 'src/link.txt', 'src/../secret.txt']) {
        const e = await rpcError(ws.call('files.read', { path }));
        expect(e.code, path).toBe(-32003);
        expect(e.data, path).toMatchObject({ reason: 'paths', paths: ['src/**'] });
        expect(e.message).toContain(c.name);
      }
      const found = await ws.call('files.search', { query: 'needle' });
      const hitPaths = JSON.stringify(found);
      expect(hitPaths).toContain('src/in.txt');
      expect(hitPaths).not.toContain('secret.txt');
      const listed = await ws.call('files.list', { path: '' });
      expect(JSON.stringify(listed)).not.toContain('secret.txt');
      await ws.call('events.subscribe', { patterns: ['fs.**'] });
      await s.call('files.write', { path: 'secret.txt', content: 'changed outside\n' });
      await s.call('files.write', { path: 'src/in.txt', content: 'changed inside\n' });
      await ws.waitFor(() => ws.events().some((e) => JSON.stringify(e.data).includes('src/in.txt')), 5000, 'the inside change');
      await new Promise((r) => setTimeout(r, 300));
      expect(JSON.stringify(ws.events())).not.toContain('secret.txt');
      const rest = await http(s, 'GET', '/api/files/secret.txt', c.token);
      expect(rest.status).toBe(403);
    } finally {
      await ws.close();
    }
  });

  it("an agent's events carry source.kind 'agent' and its name, whatever it claims", async () => {
    const c = await mint({ name: uniq('writer'), scopes: ['read', 'write'] });
    const ws = await connect(s, { token: c.token, kind: 'browser', name: 'owner' });
    try {
      expect(await ws.call('connections.whoami', {})).toMatchObject({ kind: 'agent', name: c.name });
      await ws.call('files.write', { path: 'by-agent-ws.txt', content: 'x' });
      await http(s, 'PUT', '/api/files/by-agent-http.txt', c.token, 'y', { 'x-icpy-client-kind': 'browser', 'x-icpy-client-name': 'owner' });
      for (const path of ['by-agent-ws.txt', 'by-agent-http.txt']) {
        const ev = await owner.waitFor(() => owner.events().find((e) => e.topic.startsWith('fs.') && JSON.stringify(e.data).includes(path)), 5000, path);
        expect(ev.source).toMatchObject({ kind: 'agent', name: c.name });
      }
    } finally {
      await ws.close();
    }
  });

  it('revocation cuts open WebSocket, Yjs, raw LSP and SSE connections within a second; the next request is 401', async () => {
    const c = await mint({ name: uniq('revoked'), scopes: ['read', 'write'] });
    const ws = await connect(s, { token: c.token });
    const lsp = await connect({ wsUrl: s.url.replace(/^http/, 'ws') + '/api/lsp/hang', token: c.token });
    await lsp.call('initialize', { processId: null, rootUri: pathToFileURL(s.root).href, capabilities: {} });
    const y = provider(s, 'a.txt', { token: c.token });
    await y.synced();
    const stream = await sse(s, c.token);
    const yClosed = new Promise<number>((r) => y.provider.on('connection-close', () => r(Date.now())));
    try {
      const t0 = Date.now();
      await s.call('agents.tokens.revoke', { id: c.id });
      const wsCode = await ws.closed;
      const tWs = Date.now();
      const [tY, tSse, lspCode] = await Promise.all([yClosed, stream.ended, lsp.closed]);
      const tLsp = Date.now();
      expect({ code: wsCode, reason: ws.closeReason }).toEqual({ code: 4401, reason: 'Credential revoked' });
      expect({ code: lspCode, reason: lsp.closeReason }).toEqual({ code: 4401, reason: 'Credential revoked' });
      expect(y.closes[0]).toEqual({ code: 4401, reason: 'Credential revoked' });
      expect(stream.text()).toContain('event: closed');
      expect(stream.text()).toContain('Credential revoked');
      for (const t of [tWs, tY, tSse, tLsp]) expect(t - t0).toBeLessThan(1000);
    } finally {
      y.destroy();
      stream.abort();
    }
    expect((await http(s, 'POST', '/api/rpc/server.info', c.token, '{}')).status).toBe(401);
    await expect(connect(s, { token: c.token }).then((cl) => cl.closed)).resolves.toBe(4401);
  });

  it('over /mcp: a read-only credential gets no write tools and is refused files_write; revocation closes its session', async () => {
    const c = await mint({ name: uniq('mcp-reader'), scopes: ['read'] });
    const transport = new StreamableHTTPClientTransport(new URL(`${s.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${c.token}` } } });
    const client = new Client({ name: 'cred-test', version: '1' });
    await client.connect(transport);
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toContain('files_read');
      expect(names).not.toContain('files_write');
      expect(names.filter((n) => n.startsWith('agents_tokens'))).toEqual([]);
      const wrote = await client.callTool({ name: 'files_write', arguments: { path: 'a.txt', content: 'mcp' } }).catch((e: Error) => ({ isError: true, thrown: e.message }));
      expect(wrote.isError).toBe(true);
      const read = await client.callTool({ name: 'files_read', arguments: { path: 'a.txt' } });
      expect(read.isError).toBeFalsy();
      expect(JSON.stringify(read.content)).toContain('original');
      const mine = () => (s.app.connections.list() as any[]).filter((x) => x.transport === 'mcp' && x.principalId === `agent:${c.id}`);
      expect(mine()).toHaveLength(1);
      const t0 = Date.now();
      await s.call('agents.tokens.revoke', { id: c.id });
      await until(() => mine().length === 0, 'mcp session closed', 5000);
      expect(Date.now() - t0).toBeLessThan(1000);
      await expect(client.callTool({ name: 'files_read', arguments: { path: 'a.txt' } })).rejects.toThrow();
    } finally {
      await client.close().catch(() => undefined);
    }
    expect(readFileSync(join(s.root, 'a.txt'), 'utf8')).toBe('original\n');
  });

  it("revocation also aborts the credential's in-flight HTTP calls (a waiting exec.run with detach: false is cancelled)", async () => {
    const c = await mint({ name: uniq('runner'), scopes: ['read', 'execute'] });
    const pending = http(s, 'POST', '/api/rpc/exec.run', c.token, JSON.stringify({ language: 'bash', code: 'sleep 30', wait: true, detach: false }));
    await owner.waitFor(() => owner.events().find((e) => e.topic === 'exec.started' && e.source.name === c.name), 10_000, 'exec.started');
    const t0 = Date.now();
    await s.call('agents.tokens.revoke', { id: c.id });
    const res = await pending;
    expect(Date.now() - t0).toBeLessThan(1000);
    expect({ status: res.status, cancelled: res.json.cancelled }).toEqual({ status: 200, cancelled: true });
  }, 30_000);

  it('expiry does the same: open connections close 4401 "Credential expired", then 401', async () => {
    const c = await mint({ name: uniq('short'), scopes: ['read'], expiresIn: 1500 });
    const ws = await connect(s, { token: c.token });
    expect((await ws.call('files.read', { path: 'a.txt' })).content).toBe('original\n');
    const code = await ws.closed;
    const closedAt = Date.now();
    expect({ code, reason: ws.closeReason }).toEqual({ code: 4401, reason: 'Credential expired' });
    expect(closedAt - c.expiresAt!).toBeLessThan(1000);
    expect((await http(s, 'POST', '/api/rpc/server.info', c.token, '{}')).status).toBe(401);
    const ev = await owner.waitFor(() => owner.events().find((e) => e.topic === 'agents.token.revoked' && e.data.id === c.id), 5000, 'expired event');
    expect(ev.data.reason).toBe('expired');
  });

  it('a wrong or forged token is 401 on HTTP and 4401 on the WebSocket', async () => {
    const c = await mint({ name: uniq('real'), scopes: ['read'] });
    const secret = c.token.slice(-43);
    const forged = [
      `icpy_agent_${c.id}_${secret.slice(0, 42)}${secret[42] === 'A' ? 'B' : 'A'}`,
      `icpy_agent_${c.id}_`,
      `icpy_agent_${c.id}`,
      `icpy_agent_0123456789abcdef_${secret}`,
    ];
    for (const t of forged) {
      expect((await http(s, 'POST', '/api/rpc/server.info', t, '{}')).status).toBe(401);
      await expect(connect(s, { token: t }).then((cl) => cl.closed)).resolves.toBe(4401);
    }
    expect((await http(s, 'POST', '/api/rpc/server.info', c.token, '{}')).status).toBe(200);
  });

  it('an agent credential cannot call agents.tokens.*, even with admin', async () => {
    const c = await mint({ name: uniq('admin-bot'), scopes: ['admin'] });
    const ws = await connect(s, { token: c.token });
    try {
      // Nor does it see credentials being made or revoked (owner-only events), live or in history.
      await ws.call('events.subscribe', { patterns: ['agents.**'] });
      const other = await mint({ name: uniq('sibling'), scopes: ['read'] });
      await s.call('agents.tokens.revoke', { id: other.id });
      await owner.waitFor(() => owner.events().some((e) => e.topic === 'agents.token.revoked' && e.data?.id === other.id), 5000, 'owner sees the revoke');
      const seen = await ws.call('events.history', { since: 0, patterns: ['agents.token.*'] });
      expect(seen.events).toEqual([]);
      expect(ws.events().filter((e) => e.topic.startsWith('agents.token.'))).toEqual([]);
      for (const [method, params] of [
        ['agents.tokens.create', { name: uniq('child'), scopes: ['read'] }],
        ['agents.tokens.list', {}],
        ['agents.tokens.revoke', { id: c.id }],
      ] as const) {
        const e = await rpcError(ws.call(method, params));
        expect(e.code).toBe(-32003);
        expect(e.data).toMatchObject({ reason: 'owner-only', method });
        expect(e.message).toContain('owner only');
      }
    } finally {
      await ws.close();
    }
    expect((await s.call('agents.tokens.list', {})).some((x: any) => x.id === c.id)).toBe(true);
    // Nor are they tools for an agent (MCP, the framework adapters), while the owner has them.
    const agentTools = toolsFor(s.app.registry, { id: 'agent:x', kind: 'agent', name: 'x', scopes: ALL_SCOPES }).map((t) => t.method);
    const ownerTools = toolsFor(s.app.registry, ownerPrincipal()).map((t) => t.method);
    expect(ownerTools).toContain('agents.tokens.create');
    expect(agentTools).toContain('files.write');
    expect(agentTools.filter((m) => m.startsWith('agents.tokens.'))).toEqual([]);
  });

  it('icpy agent-token create | list | revoke, and the printed token works with ICPY_TOKEN', async () => {
    const env = cleanEnv({ ICPY_RUNTIME_DIR: runtimeDir });
    const name = uniq('cli-bot');
    const made = await icpy(['agent-token', 'create', '--name', name, '--scopes', 'read', '--paths', 'src/**', '--paths', 'docs/*.md,tests/**', '--expires', '7d'], env, s.root);
    expect(made.code).toBe(0);
    const token = /icpy_agent_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/.exec(made.stdout)?.[0];
    expect(token).toBeDefined();
    expect(made.stdout).toContain(`ICPY_TOKEN=${token} icpy`);
    expect(made.stdout).toContain('/mcp');
    // The token authenticates (what a path-limited agent may then call is the path rules' business).
    const status = await icpy(['status'], { ...env, ICPY_TOKEN: token }, s.root);
    expect(status.stderr).not.toContain('UNAUTHORIZED');

    const listed = await icpy(['agent-token', 'list'], env, s.root);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(name);
    expect(listed.stdout).toContain('src/** docs/*.md tests/**');
    expect(listed.stdout).not.toContain(token!);
    const json = JSON.parse((await icpy(['--json', 'agent-token', 'list'], env, s.root)).stdout);
    expect(json.find((x: any) => x.name === name)).toMatchObject({ scopes: ['read'], paths: ['src/**', 'docs/*.md', 'tests/**'] });

    // The agent itself may not manage credentials (exit 1, the refusal says why).
    const self = await icpy(['agent-token', 'list'], { ...env, ICPY_TOKEN: token }, s.root);
    expect(self.code).toBe(1);
    expect(self.stderr).toContain('for the owner only');

    const bad = await icpy(['agent-token', 'create', '--name', 'x y', '--scopes', 'read'], env, s.root);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('name');

    const rev = await icpy(['agent-token', 'revoke', name], env, s.root);
    expect(rev.code).toBe(0);
    expect(rev.stdout).toContain(`revoked agent credential ${name}`);
    const after = await icpy(['status'], { ...env, ICPY_TOKEN: token }, s.root);
    expect({ code: after.code, unauthorized: after.stderr.includes('UNAUTHORIZED') }).toEqual({ code: 1, unauthorized: true });
    expect((await icpy(['agent-token', 'revoke', name], env, s.root)).code).toBe(1);
  }, 60_000);
});

describe('agent credentials across a restart', () => {
  it('persist (hashed) in the workspace state; a --read-only restart caps a write credential at read', async () => {
    const a = await startServer({}, { keepRoot: true });
    const root = a.root;
    let c: Cred;
    try {
      c = await a.call('agents.tokens.create', { name: 'w', scopes: ['read', 'write'] });
    } finally {
      await a.close();
    }
    const b = await startServer({ root, readOnly: true });
    try {
      const ws = await connect(b, { token: c.token });
      try {
        expect(await ws.call('connections.whoami', {})).toMatchObject({ kind: 'agent', name: 'w' });
        const e = await rpcError(ws.call('files.write', { path: 'x.txt', content: 'x' }));
        expect(e.data).toMatchObject({ reason: 'scope', scope: 'write' });
      } finally {
        await ws.close();
      }
      // The owner of a read-only server has read only: minting (admin) is refused too.
      const m = await rpcError(b.call('agents.tokens.create', { name: 'v', scopes: ['read'] }));
      expect(m.data).toMatchObject({ reason: 'scope', scope: 'admin' });
    } finally {
      await b.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
