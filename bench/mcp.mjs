// MCP tool-call overhead: the same method (files.stat of a small file) called one at a time over
// a WebSocket (JSON-RPC on /api/ws, the baseline) and as an MCP tool (`files_stat`, the SDK
// Client over Streamable HTTP at /mcp) against one `icpy serve` process, in the same run. Rounds
// alternate which side goes first. Figures: p50/p99 round-trip of each and the added p50.
// Target: MCP adds under 2 ms p50.
//
//   npm run build && node bench/mcp.mjs
//   BENCH_CALLS=2000 BENCH_ROUNDS=5 node bench/mcp.mjs
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { emit, percentile, round } from './lib/stats.mjs';
import { forkChild, nextMessage, stopChild } from './lib/procs.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const CALLS = Number(process.env.BENCH_CALLS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARMUP = 200;
const TOKEN = 'bench-token-' + Math.random().toString(36).slice(2);

const root = mkdtempSync(join(tmpdir(), 'icpy-bench-mcp-'));
const runtimeDir = mkdtempSync(join(tmpdir(), 'icpy-bench-rt-'));
writeFileSync(join(root, 'small.txt'), 'hello\n');
const env = { ...process.env, ICPY_RUNTIME_DIR: runtimeDir, ICPY_LOG_LEVEL: 'silent' };
const server = forkChild(join(here, 'lib', 'icpy-server.mjs'), [root, '--port', '0', '--token', TOKEN, '--log-level', 'silent'], { env });
let ws;
let client;
let transport;
try {
  const { url } = await nextMessage(server, 'ready');

  ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/ws?token=${TOKEN}&kind=agent&name=bench`);
  await new Promise((res, rej) => (ws.once('open', res), ws.once('error', rej)));
  let nextId = 1;
  const pending = new Map();
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    const p = pending.get(m.id);
    if (p) {
      pending.delete(m.id);
      if (m.error) p.rej(new Error(m.error.message));
      else p.res(m.result);
    }
  });
  const wsCall = (method, params) =>
    new Promise((res, rej) => {
      const id = nextId++;
      pending.set(id, { res, rej });
      ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });

  transport = new StreamableHTTPClientTransport(new URL('/mcp', url), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } });
  client = new Client({ name: 'bench', version: '1' });
  await client.connect(transport);
  await client.listTools(); // the client caches output schemas for validation, as a real one does

  const sides = {
    ws: () => wsCall('files.stat', { path: 'small.txt' }),
    mcp: async () => {
      const r = await client.callTool({ name: 'files_stat', arguments: { path: 'small.txt' } });
      if (r.isError) throw new Error(r.content[0].text);
    },
  };
  const samples = { ws: [], mcp: [] };
  const measure = async (name, n, keep) => {
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      await sides[name]();
      if (keep) samples[name].push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  };
  await measure('ws', WARMUP, false);
  await measure('mcp', WARMUP, false);
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? ['ws', 'mcp'] : ['mcp', 'ws'];
    for (const name of order) await measure(name, CALLS, true);
  }
  const fig = (name) => ({ p50_ms: round(percentile(samples[name], 50), 3), p99_ms: round(percentile(samples[name], 99), 3) });
  const w = fig('ws');
  const m = fig('mcp');
  emit({ bench: 'mcp', figure: 'ws_files_stat', calls: samples.ws.length, ...w });
  emit({ bench: 'mcp', figure: 'mcp_tool_files_stat', calls: samples.mcp.length, ...m });
  emit({ bench: 'mcp', figure: 'mcp_added_p50_ms', value: round(m.p50_ms - w.p50_ms, 3), target_ms: 2, ok: m.p50_ms - w.p50_ms < 2 });
} finally {
  await transport?.terminateSession().catch(() => undefined);
  await client?.close().catch(() => undefined);
  ws?.close();
  await stopChild(server);
  rmSync(root, { recursive: true, force: true });
  rmSync(runtimeDir, { recursive: true, force: true });
}
