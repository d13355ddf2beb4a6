import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceUpdatedNotificationSchema, ToolListChangedNotificationSchema, ResourceListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { READ_ONLY_SCOPES, type Principal } from '../src/core/principal.js';
import { defineMethod } from '../src/core/rpc/index.js';
import { connect, startServer, type TestServer, type WsClient } from './helpers/server.js';
import { until } from './helpers/until.js';

const clients: { client: Client; transport: StreamableHTTPClientTransport }[] = [];
const sockets: WsClient[] = [];

async function mcpClient(server: TestServer, opts: { token?: string | null; name?: string; headers?: Record<string, string> } = {}): Promise<Client> {
  const headers: Record<string, string> = { ...opts.headers };
  const token = opts.token === undefined ? server.token : opts.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const transport = new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers } });
  const client = new Client({ name: opts.name ?? 'test-agent', version: '1.0.0' });
  await client.connect(transport);
  clients.push({ client, transport });
  return client;
}

/** A raw POST to /mcp (status codes of refusals). */
async function post(server: TestServer, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(`${server.url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* SSE */
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

const initialize = (name = 'raw') => ({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name, version: '1' } },
});

function textOf(result: any): string {
  return (result.content as { type: string; text: string }[]).map((c) => c.text).join('\n');
}

afterEach(async () => {
  // A client that goes away ends its session (DELETE /mcp), as well-behaved MCP clients do.
  for (const c of clients.splice(0)) {
    await c.transport.terminateSession().catch(() => undefined);
    await c.client.close().catch(() => undefined);
  }
  for (const s of sockets.splice(0)) await s.close().catch(() => undefined);
});

describe('MCP over Streamable HTTP at /mcp', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('lists the registry as tools with schemas and annotations from each scope', async () => {
    const client = await mcpClient(server);
    const { tools } = await client.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    const read = byName.get('files_read')!;
    expect(read.inputSchema.type).toBe('object');
    expect(Object.keys(read.inputSchema.properties ?? {})).toContain('path');
    expect(read.outputSchema?.type).toBe('object');
    expect(read.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false });
    expect(byName.get('files_delete')!.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true });
    expect(byName.get('terminal_run')).toBeDefined();
    // Socket-only methods are not tools.
    expect(byName.has('events_subscribe')).toBe(false);
    expect(byName.has('terminal_attach')).toBe(false);
    expect(client.getServerCapabilities()).toMatchObject({ tools: { listChanged: true }, resources: { subscribe: true, listChanged: true } });
  });

  it('files_write and terminal_run: results, and events attributed to the agent on a watching WebSocket', async () => {
    const watch = await connect(server, { kind: 'browser', name: 'human' });
    sockets.push(watch);
    await watch.call('events.subscribe', { patterns: ['**'] });
    const client = await mcpClient(server, { name: 'claude-test' });

    const wrote = await client.callTool({ name: 'files_write', arguments: { path: 'agent/hello.txt', content: 'hi from mcp\n', mkdirs: true } });
    expect(wrote.isError).toBeFalsy();
    expect(wrote.structuredContent).toMatchObject({ path: 'agent/hello.txt', created: true });
    expect(JSON.parse(textOf(wrote))).toMatchObject({ path: 'agent/hello.txt' });
    expect(readFileSync(join(server.root, 'agent/hello.txt'), 'utf8')).toBe('hi from mcp\n');

    const ran = await client.callTool({ name: 'terminal_run', arguments: { command: 'echo mcp-$((6*7)); exit 3', timeout: 20_000 } });
    expect(ran.isError).toBeFalsy();
    expect(ran.structuredContent).toMatchObject({ exitCode: 3, timedOut: false });
    expect((ran.structuredContent as { output: string }).output).toContain('mcp-42');

    const fsEv = await watch.waitFor(() =>
      watch.events().find((e) => e.topic.startsWith('fs.file.') && e.data.paths?.includes('agent/hello.txt')),
    );
    expect(fsEv.source).toMatchObject({ kind: 'agent', name: 'claude-test' });
    const termEv = await watch.waitFor(() => watch.events().find((e) => e.topic === 'terminal.created'));
    expect(termEv.source).toMatchObject({ kind: 'agent', name: 'claude-test' });
    const conn = await watch.waitFor(() => watch.events().find((e) => e.topic === 'connection.opened' && e.data.transport === 'mcp'));
    expect(conn.data).toMatchObject({ kind: 'agent', name: 'claude-test', principalId: 'owner' });
  });

  it('a failed call is a tool error a model can read (isError, code, message, data), not a protocol error', async () => {
    const client = await mcpClient(server);
    const res = await client.callTool({ name: 'files_read', arguments: { path: 'does/not/exist.txt' } });
    expect(res.isError).toBe(true);
    expect(textOf(res)).toMatch(/files\.read failed: FILE_NOT_FOUND/);
    const bad = await client.callTool({ name: 'files_read', arguments: { path: 42 } });
    expect(bad.isError).toBe(true);
    expect(textOf(bad)).toMatch(/INVALID_PARAMS/);
    await expect(client.callTool({ name: 'no_such_tool', arguments: {} })).rejects.toThrow(/Unknown tool/);
  });

  it('resources: list, read, subscribe → updated after another client writes the file; list_changed on create', async () => {
    writeFileSync(join(server.root, 'watched.md'), '# one\n');
    const client = await mcpClient(server);
    const all: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listResources(cursor ? { cursor } : {});
      all.push(...page.resources.map((r) => r.uri));
      cursor = page.nextCursor;
    } while (cursor);
    expect(all).toContain('file:///watched.md');
    const read = await client.readResource({ uri: 'file:///watched.md' });
    expect(read.contents[0]).toMatchObject({ uri: 'file:///watched.md', text: '# one\n', mimeType: 'text/markdown' });

    const updated: string[] = [];
    let listChanged = 0;
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updated.push(n.params.uri));
    client.setNotificationHandler(ResourceListChangedNotificationSchema, () => void listChanged++);
    await client.subscribeResource({ uri: 'file:///watched.md' });
    // Another client (plain HTTP JSON-RPC) changes it.
    await server.call('files.write', { path: 'watched.md', content: '# two\n' });
    await until(() => updated.includes('file:///watched.md'), 'resources/updated');
    await server.call('files.write', { path: 'brand-new.txt', content: 'x' });
    await until(() => listChanged > 0, 'resources/list_changed');
    await client.unsubscribeResource({ uri: 'file:///watched.md' });
    await expect(client.readResource({ uri: 'https://example.com/x' })).rejects.toThrow(/file:\/\/\//);
  });

  it('tools/list_changed when a method is registered at runtime', async () => {
    const client = await mcpClient(server);
    let changed = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++);
    const reg = server.app.registry.register(
      defineMethod({
        name: 'test.ping',
        description: 'Answer pong.',
        params: z.strictObject({}),
        result: z.object({ pong: z.boolean() }),
        scope: 'read',
        pathFree: true,
        handler: () => ({ pong: true }),
      }),
    );
    try {
      await until(() => changed > 0, 'tools/list_changed');
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('test_ping');
      expect((await client.callTool({ name: 'test_ping', arguments: {} })).structuredContent).toEqual({ pong: true });
    } finally {
      await reg.dispose();
    }
  });

  it('refuses a foreign Origin (403), a foreign Host (403), a missing or wrong token (401 + WWW-Authenticate)', async () => {
    const auth = { authorization: `Bearer ${server.token}` };
    expect((await post(server, initialize(), { ...auth, origin: 'https://evil.example' })).status).toBe(403);
    expect((await post(server, initialize(), { origin: 'https://evil.example' })).status).toBe(403);
    // fetch does not let a caller set Host: a raw request does.
    expect(await rawHostStatus(server, 'evil.example')).toBe(403);
    const missing = await post(server, initialize());
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(missing.body.error.data.code).toBe('UNAUTHORIZED');
    expect((await post(server, initialize(), { authorization: 'Bearer wrong' })).status).toBe(401);
    await expect(mcpClient(server, { token: 'wrong' })).rejects.toThrow();
    // Same-origin browsers are fine.
    const ok = await post(server, initialize(), { ...auth, origin: server.url });
    expect(ok.status).toBe(200);
    await fetch(`${server.url}/mcp`, { method: 'DELETE', headers: { ...auth, 'mcp-session-id': ok.headers.get('mcp-session-id')! } });
  });

  it('a crewAI-style client (MCPServerAdapter: Streamable HTTP + Authorization header) lists tools and calls one', async () => {
    // crewAI's MCPServerAdapter({"url": ".../mcp", "transport": "streamable-http", "headers": {"Authorization": "Bearer T"}})
    // speaks exactly this: initialize, tools/list, tools/call over Streamable HTTP.
    writeFileSync(join(server.root, 'crew.txt'), 'crew input\n');
    const client = await mcpClient(server, { name: 'crewai' });
    const { tools } = await client.listTools();
    expect(tools.some((t) => t.name === 'files_read')).toBe(true);
    const res = await client.callTool({ name: 'files_read', arguments: { path: 'crew.txt' } });
    expect(res.structuredContent).toMatchObject({ content: 'crew input\n', encoding: 'utf8' });
  });
});

async function rawHostStatus(server: TestServer, host: string): Promise<number> {
  const { request } = await import('node:http');
  const u = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: '/mcp', method: 'POST', headers: { host, authorization: `Bearer ${server.token}`, 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end('{}');
  });
}

describe('MCP sessions: principals and bounds', () => {
  let server: TestServer;
  const reader: Principal = { id: 'agent:ro1', kind: 'agent', name: 'reader-bot', scopes: READ_ONLY_SCOPES };
  const other: Principal = { id: 'agent:ro2', kind: 'agent', name: 'other-bot', scopes: READ_ONLY_SCOPES };
  const agents = new Map<string, Principal>([
    ['ro-token-1', reader],
    ['ro-token-2', other],
  ]);
  beforeAll(async () => {
    server = await startServer({ agents: { maxMcpSessions: 3, maxMcpSessionsPerPrincipal: 2 } }, { authenticate: (t) => (t ? agents.get(t) : undefined) });
  });
  afterAll(async () => {
    await server.close();
  });

  it('a read-only agent credential: no write tools listed, a write is refused with a readable FORBIDDEN, and it is named after the credential', async () => {
    const watch = await connect(server);
    sockets.push(watch);
    await watch.call('events.subscribe', { patterns: ['connection.**'] });
    const client = await mcpClient(server, { token: 'ro-token-1', name: 'claims-another-name' });
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toContain('files_read');
    expect(names).not.toContain('files_write');
    expect(names).not.toContain('terminal_run');
    const res = await client.callTool({ name: 'files_write', arguments: { path: 'nope.txt', content: 'x' } });
    expect(res.isError).toBe(true);
    expect(textOf(res)).toMatch(/FORBIDDEN/);
    expect(textOf(res)).toMatch(/"reason":"scope"/);
    expect(textOf(res)).toMatch(/"scope":"write"/);
    await expect(server.call('files.stat', { path: 'nope.txt' })).rejects.toThrow(/does not exist/);
    const opened = await watch.waitFor(() => watch.events().find((e) => e.topic === 'connection.opened' && e.data.transport === 'mcp'));
    expect(opened.data).toMatchObject({ kind: 'agent', name: 'reader-bot', principalId: 'agent:ro1' });
  });

  it('a session is bound to the principal that initialized it: another token on its Mcp-Session-Id → 404', async () => {
    const init = await post(server, initialize('bound'), { authorization: 'Bearer ro-token-1' });
    expect(init.status).toBe(200);
    const sid = init.headers.get('mcp-session-id')!;
    const list = { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} };
    const headers = (t: string) => ({ authorization: `Bearer ${t}`, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' });
    expect((await post(server, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers('ro-token-1'))).status).toBe(202);
    expect((await post(server, list, headers('ro-token-2'))).status).toBe(404);
    expect((await post(server, list, headers(server.token))).status).toBe(404);
    const own = await post(server, list, headers('ro-token-1'));
    expect(own.status).toBe(200);
    await fetch(`${server.url}/mcp`, { method: 'DELETE', headers: headers('ro-token-1') });
  });

  it('one credential holds at most maxMcpSessionsPerPrincipal sessions; another still gets one; a closed one frees its place', async () => {
    const auth = { authorization: 'Bearer ro-token-1' };
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await post(server, initialize(`p${i}`), auth);
      expect(r.status).toBe(200);
      ids.push(r.headers.get('mcp-session-id')!);
    }
    const over = await post(server, initialize('p2'), auth);
    expect(over.status).toBe(429);
    expect(over.body.error.data).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'maxMcpSessionsPerPrincipal', max: 2 });
    expect(over.body.error.message).toMatch(/reader-bot holds 2 MCP sessions/);
    const otherInit = await post(server, initialize('o0'), { authorization: 'Bearer ro-token-2' });
    expect(otherInit.status).toBe(200);
    const closeAs = (token: string, id: string) => fetch(`${server.url}/mcp`, { method: 'DELETE', headers: { authorization: `Bearer ${token}`, 'mcp-session-id': id } });
    expect((await closeAs('ro-token-1', ids[0]!)).status).toBe(200);
    const again = await post(server, initialize('p3'), auth);
    expect(again.status).toBe(200);
    ids.push(again.headers.get('mcp-session-id')!);
    for (const id of ids.slice(1)) await closeAs('ro-token-1', id);
    await closeAs('ro-token-2', otherInit.headers.get('mcp-session-id')!);
  });

  it('too many sessions → 429 LIMIT_EXCEEDED (maxMcpSessions); a closed one frees its place', async () => {
    const ids: string[] = [];
    const tokens = [server.token, server.token, 'ro-token-2'];
    for (let i = 0; i < 3; i++) {
      const r = await post(server, initialize(`s${i}`), { authorization: `Bearer ${tokens[i]}` });
      expect(r.status).toBe(200);
      ids.push(r.headers.get('mcp-session-id')!);
    }
    const auth = { authorization: 'Bearer ro-token-1' };
    const over = await post(server, initialize('s3'), auth);
    expect(over.status).toBe(429);
    expect(over.body.error.data).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'maxMcpSessions', max: 3 });
    const del = await fetch(`${server.url}/mcp`, { method: 'DELETE', headers: { authorization: `Bearer ${server.token}`, 'mcp-session-id': ids[0]! } });
    expect(del.status).toBe(200);
    const again = await post(server, initialize('s4'), auth);
    expect(again.status).toBe(200);
    tokens.push('ro-token-1');
    ids.push(again.headers.get('mcp-session-id')!);
    for (let i = 1; i < ids.length; i++) await fetch(`${server.url}/mcp`, { method: 'DELETE', headers: { authorization: `Bearer ${tokens[i]}`, 'mcp-session-id': ids[i]! } });
  });
});

describe('MCP session idle close', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ agents: { mcpSessionIdleMs: 300 } });
  });
  afterAll(async () => {
    await server.close();
  });

  it('a session with no request for mcpSessionIdleMs is closed: its id answers 404 and its connection is gone', async () => {
    const auth = { authorization: `Bearer ${server.token}` };
    const init = await post(server, initialize('idler'), auth);
    const sid = init.headers.get('mcp-session-id')!;
    expect(server.app.connections.list().some((c) => c.transport === 'mcp' && c.name === 'idler')).toBe(true);
    await until(() => server.app.connections.list().every((c) => c.transport !== 'mcp'), 'idle session closed');
    const list = await post(server, { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} }, { ...auth, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' });
    expect(list.status).toBe(404);
  });
});

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'icpy.js');

/** The environment of a CLI child: no ICPY_* of ours, its own runtime folder. */
function cliEnv(runtimeDir: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('ICPY_')) env[k] = v;
  return { ...env, ICPY_RUNTIME_DIR: runtimeDir };
}

describe('icpy mcp (stdio, bridged to /mcp of the server for the current folder)', () => {
  let server: TestServer;
  let rt: string;
  beforeAll(async () => {
    server = await startServer();
    rt = mkdtempSync(join(tmpdir(), 'icpy-mcp-rt-'));
    // The runtime file `icpy serve` writes: the CLI finds the server serving its folder from it.
    writeFileSync(join(rt, `server-${process.pid}.json`), JSON.stringify({ url: server.url, token: server.token, root: server.root, pid: process.pid, startedAt: Date.now(), version: 'test' }), { mode: 0o600 });
  });
  afterAll(async () => {
    await server.close();
    rmSync(rt, { recursive: true, force: true });
  });

  it('an MCP SDK client over stdio lists tools, calls files_write and terminal_run; a watcher sees the agent', async () => {
    const watch = await connect(server, { kind: 'browser', name: 'human' });
    sockets.push(watch);
    await watch.call('events.subscribe', { patterns: ['**'] });
    const transport = new StdioClientTransport({ command: process.execPath, args: [BIN, 'mcp'], cwd: server.root, env: cliEnv(rt), stderr: 'pipe' });
    let stderr = '';
    transport.stderr?.on('data', (d) => (stderr += d));
    const client = new Client({ name: 'stdio-agent', version: '1.0.0' });
    try {
      await client.connect(transport);
      const { tools } = await client.listTools();
      const names = tools.map((t) => t.name);
      expect(names).toEqual(expect.arrayContaining(['files_read', 'files_write', 'terminal_run']));
      expect(tools.find((t) => t.name === 'files_read')!.annotations?.readOnlyHint).toBe(true);
      const wrote = await client.callTool({ name: 'files_write', arguments: { path: 'from-stdio.txt', content: 'stdio\n' } });
      expect(wrote.structuredContent).toMatchObject({ path: 'from-stdio.txt', created: true });
      expect(readFileSync(join(server.root, 'from-stdio.txt'), 'utf8')).toBe('stdio\n');
      const ran = await client.callTool({ name: 'terminal_run', arguments: { command: 'echo via-stdio; exit 5', timeout: 20_000 } });
      expect(ran.structuredContent).toMatchObject({ exitCode: 5 });
      expect((ran.structuredContent as { output: string }).output).toContain('via-stdio');
      const ev = await watch.waitFor(() => watch.events().find((e) => e.topic.startsWith('fs.file.') && e.data.paths?.includes('from-stdio.txt')));
      expect(ev.source).toMatchObject({ kind: 'agent', name: 'stdio-agent' });
      const term = await watch.waitFor(() => watch.events().find((e) => e.topic === 'terminal.created' && e.source.name === 'stdio-agent'));
      expect(term.source.kind).toBe('agent');
    } finally {
      await client.close();
    }
    // stdin closed → the bridge ends its session (DELETE /mcp) and exits.
    await until(() => server.app.connections.list().every((c) => c.transport !== 'mcp'), 'the stdio session closed');
    expect(stderr).toBe('');
  });

  it('icpy mcp DIR from another folder, with a client that pipelines its first messages before the initialize reply', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'icpy-mcp-else-'));
    writeFileSync(join(server.root, 'piped.txt'), 'piped\n');
    try {
      const child = spawn(process.execPath, [BIN, 'mcp', server.root], { cwd: elsewhere, env: cliEnv(rt), stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      const lines = [
        { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'piper', version: '1' } } },
        { jsonrpc: '2.0', method: 'notifications/initialized' },
        { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'files_read', arguments: { path: 'piped.txt' } } },
      ];
      child.stdin.write(lines.map((l) => JSON.stringify(l) + '\n').join(''));
      await until(() => out.split('\n').filter(Boolean).length >= 2, 'two replies');
      child.stdin.end();
      expect(await new Promise<number | null>((r) => child.on('close', r))).toBe(0);
      const replies = out.split('\n').filter(Boolean).map((l) => JSON.parse(l));
      expect(replies[0]).toMatchObject({ id: 1, result: { serverInfo: { name: 'icpy' } } });
      expect(replies[1]).toMatchObject({ id: 2, result: { structuredContent: { path: 'piped.txt', content: 'piped\n' } } });
      expect(err).toBe('');
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('no server for this folder: exit 3, a hint on stderr, nothing on stdout', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'icpy-mcp-none-'));
    try {
      const child = spawn(process.execPath, [BIN, 'mcp'], { cwd: empty, env: cliEnv(empty), stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      const code = await new Promise<number | null>((r) => child.on('close', r));
      expect(code).toBe(3);
      expect(out).toBe('');
      expect(err).toMatch(/icpy serve/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
