import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, startServer, type TestServer, type WsClient } from './helpers/server.js';

/**
 * One client floods large reads (HTTP batches and WebSocket calls of files.read on an 8 MiB file,
 * and REST GETs of it) while another measures /api/health. The server runs in this process, so
 * its RSS is this process's. The bound (docs/protocol.md, "Limits"): RSS stays under
 * RSS_BOUND_MIB with the limits below; health p99 < 100 ms.
 */
const FILE_MIB = 8;
const RSS_BOUND_MIB = 768;
const FLOOD_MS = 3000;

describe('a flood of large reads leaves the server up, bounded and responsive', () => {
  let s: TestServer;
  const clients: WsClient[] = [];
  beforeAll(async () => {
    s = await startServer({ limits: { maxInflightReadBytes: 32 * 1024 * 1024, maxInflightReadBytesPerConnection: 16 * 1024 * 1024 } });
    writeFileSync(join(s.root, 'big.txt'), Buffer.alloc(FILE_MIB * 1024 * 1024, 'a'));
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await s.close();
  });

  it(`RSS < ${RSS_BOUND_MIB} MiB and health p99 < 100 ms while one client floods 8 MiB reads`, async () => {
    const auth = { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' };
    const until = Date.now() + FLOOD_MS;
    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
    const outcomes = { ok: 0, limited: 0, other: 0 };
    const count = (code: string | undefined) => {
      if (code === undefined) outcomes.ok++;
      else if (code === 'LIMIT_EXCEEDED' || code === 'REPLY_TOO_LARGE') outcomes.limited++;
      else outcomes.other++;
    };
    const read = { method: 'files.read', params: { path: 'big.txt' } };
    const httpBatches = async () => {
      while (Date.now() < until) {
        const batch = Array.from({ length: 4 }, (_, i) => ({ jsonrpc: '2.0', id: i, ...read }));
        const res = await fetch(`${s.url}/api/rpc`, { method: 'POST', headers: auth, body: JSON.stringify(batch) });
        // Not parsed: the flooding client shares this process's event loop with the server.
        const text = Buffer.from(await res.arrayBuffer()).toString('latin1');
        const codes = [...text.matchAll(/"code":"([A-Z_]+)"/g)].map((m) => m[1]);
        for (let i = 0; i < 4; i++) count(codes[i]);
      }
    };
    const wsCalls = async () => {
      const c = await connect(s);
      clients.push(c);
      c.ws.removeAllListeners('message'); // replies counted, not parsed (see above)
      let id = 0;
      while (Date.now() < until) {
        await new Promise<void>((resolve) => {
          let left = 4;
          const onMsg = (data: Buffer) => {
            const head = data.subarray(0, 200).toString('latin1');
            count(/"error"/.test(head) ? (/"code":"([A-Z_]+)"/.exec(data.subarray(-300).toString('latin1'))?.[1] ?? 'ERROR') : undefined);
            if (--left === 0) {
              c.ws.off('message', onMsg);
              resolve();
            }
          };
          c.ws.on('message', onMsg);
          for (let i = 0; i < 4; i++) c.ws.send(JSON.stringify({ jsonrpc: '2.0', id: ++id, ...read }));
        });
      }
    };
    const restGets = async () => {
      while (Date.now() < until) {
        const res = await fetch(`${s.url}/api/files/big.txt`, { headers: auth });
        await res.arrayBuffer();
        count(res.status === 200 ? undefined : res.status === 429 ? 'LIMIT_EXCEEDED' : String(res.status));
      }
    };
    const latencies: number[] = [];
    const health = async () => {
      while (Date.now() < until) {
        const t = performance.now();
        const res = await fetch(`${s.url}/api/health`);
        await res.json();
        latencies.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await Promise.all([httpBatches(), httpBatches(), httpBatches(), wsCalls(), wsCalls(), restGets(), restGets(), restGets(), restGets(), health()]);
    clearInterval(sampler);
    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.floor(latencies.length * 0.99)]!;
    const rssMiB = peakRss / 1024 / 1024;
    console.log(JSON.stringify({ abuse: 'large reads', ...outcomes, healthSamples: latencies.length, healthP99Ms: Math.round(p99), peakRssMiB: Math.round(rssMiB) }));
    expect((await fetch(`${s.url}/api/health`)).status).toBe(200);
    expect(outcomes.other).toBe(0);
    expect(outcomes.ok).toBeGreaterThan(0);
    expect(rssMiB).toBeLessThan(RSS_BOUND_MIB);
    expect(p99).toBeLessThan(100);
  }, 60_000);
});

describe('subscribers that never read, while events are emitted fast, leave the server responsive', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(async () => {
    await s.close();
  });

  it('health p99 < 100 ms and RSS < 768 MiB while 100 non-reading subscribers receive a flood of 4 KB events', async () => {
    // The flood runs in its own process: its client work must not share this event loop.
    const flood = spawn(process.execPath, [join(import.meta.dirname, 'helpers', 'flood-events.mjs'), s.wsUrl, s.token, '100', '3000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    flood.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<number | null>((r) => flood.once('exit', r));
    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
    const latencies: number[] = [];
    let finished = false;
    void done.then(() => (finished = true));
    // Measure once the subscribers are connected (the flood prints nothing until it ends).
    await new Promise((r) => setTimeout(r, 1500));
    while (!finished) {
      const t = performance.now();
      await (await fetch(`${s.url}/api/health`)).json();
      latencies.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 10));
    }
    clearInterval(sampler);
    expect(await done).toBe(0);
    const { emitted } = JSON.parse(out) as { emitted: number };
    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.floor(latencies.length * 0.99)]!;
    console.log(JSON.stringify({ abuse: 'non-reading subscribers', emitted, healthSamples: latencies.length, healthP99Ms: Math.round(p99), peakRssMiB: Math.round(peakRss / 1024 / 1024) }));
    expect(emitted).toBeGreaterThan(1000);
    expect(latencies.length).toBeGreaterThan(20);
    expect(peakRss / 1024 / 1024).toBeLessThan(RSS_BOUND_MIB);
    expect(p99).toBeLessThan(100);
  }, 60_000);
});
