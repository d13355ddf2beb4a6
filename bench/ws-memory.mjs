// Server memory per idle WebSocket connection: icpy (`icpy serve`, from dist/ — run
// `npm run build` first) against a bare `ws` server, in the same run.
//
// Each server runs in its own process (started with --expose-gc); 1,000 connections are opened
// from a separate client process. Server RSS is read from outside (/proc/<pid>/status VmRSS)
// after a forced GC and a settle time, before and after the connections open; heap figures are
// process.memoryUsage() reported by the server over IPC after the same GC. Cases:
//   idle        connected, nothing else (icpy: authenticated, registered in connections.list)
//   subscribed  icpy only: each connection also holds one events.subscribe ["client.bench.**"]
//
//   node bench/ws-memory.mjs
//   BENCH_CONNECTIONS=2000 node bench/ws-memory.mjs
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ask, forkChild, nextMessage, rssBytes, sleep, stopChild } from './lib/procs.mjs';
import { emit, round } from './lib/stats.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const N = Number(process.env.BENCH_CONNECTIONS ?? 1000);
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 2000);
const TARGET_KB = 50;
const TOKEN = 'bench-' + Math.random().toString(36).slice(2);

const tmp = mkdtempSync(join(tmpdir(), 'icpy-bench-mem-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const root = join(tmp, 'workspace');
mkdirSync(root);

async function startServer(kind) {
  const execArgv = ['--expose-gc'];
  const child =
    kind === 'icpy'
      ? forkChild(join(here, 'lib/icpy-server.mjs'), [root, '--host', '127.0.0.1', '--port', '0', '--token', TOKEN, '--log-level', 'warn'], {
          execArgv,
          env: { ...process.env, ICPY_RUNTIME_DIR: join(tmp, 'runtime') },
        })
      : forkChild(join(here, 'lib/bare-server.mjs'), [], { execArgv });
  child.stdout.resume();
  const { url, pid } = await nextMessage(child, 'ready', 20_000);
  const ws = url.replace(/^http/, 'ws');
  return { kind, child, pid, url: kind === 'icpy' ? `${ws}/api/ws?token=${TOKEN}&kind=browser&name=idle` : `${ws}/sub` };
}

/** GC the server, let it settle, then read its memory. */
async function measure(server) {
  await ask(server.child, { cmd: 'mem' });
  await sleep(SETTLE_MS);
  const mem = await ask(server.child, { cmd: 'mem' });
  return { rss: rssBytes(server.pid), heap: mem.heapUsed, external: mem.external, connections: mem.connections };
}

const clients = forkChild(join(here, 'lib/ws-clients.mjs'));
clients.stdout.resume();
await nextMessage(clients, 'ready', 20_000);

/** A fresh server per case, so memory kept from an earlier case cannot hide this one's. */
async function perConnection(kind, group, subscribe) {
  const server = await startServer(kind);
  // Warm-up: the first connections also pay for lazily loaded code and first-use caches.
  await ask(clients, { cmd: 'connect', group: `${group}-warm`, url: server.url, count: 50, subscribe });
  await ask(clients, { cmd: 'close', group: `${group}-warm` });
  const before = await measure(server);
  const r = await ask(clients, { cmd: 'connect', group, url: server.url, count: N, subscribe }, 120_000);
  if (r.count !== N) throw new Error(`${group}: connected ${r.count} of ${N}`);
  const after = await measure(server);
  await ask(clients, { cmd: 'close', group }, 60_000);
  await stopChild(server.child);
  return {
    rssKb: (after.rss - before.rss) / N / 1024,
    heapKb: (after.heap - before.heap) / N / 1024,
    externalKb: (after.external - before.external) / N / 1024,
  };
}

const bare = await perConnection('bare', 'bare-idle');
const idle = await perConnection('icpy', 'icpy-idle');
const subscribed = await perConnection('icpy', 'icpy-sub', ['client.bench.**']);

for (const [name, icpy] of [
  ['idle', idle],
  ['subscribed', subscribed],
]) {
  emit({
    bench: 'ws-memory',
    case: name,
    connections: N,
    icpy_rss_kb_per_conn: round(icpy.rssKb, 2),
    icpy_heap_kb_per_conn: round(icpy.heapKb, 2),
    icpy_external_kb_per_conn: round(icpy.externalKb, 2),
    baseline: 'bare ws server, idle',
    baseline_rss_kb_per_conn: round(bare.rssKb, 2),
    baseline_heap_kb_per_conn: round(bare.heapKb, 2),
    baseline_external_kb_per_conn: round(bare.externalKb, 2),
    target_max_rss_kb_per_conn: name === 'idle' ? TARGET_KB : undefined,
    ok: name === 'idle' ? icpy.rssKb < TARGET_KB : undefined,
  });
}

await stopChild(clients);
