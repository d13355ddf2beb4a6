import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './helpers/server.js';

/**
 * One client (test/helpers/flood-reads.mjs, its own process) floods large reads (HTTP batches and
 * WebSocket calls of files.read on an 8 MiB file, and REST GETs of it) while this process
 * measures /api/health. The server runs in this process, so its RSS is this process's. The bound
 * (docs/protocol.md, "Limits"): RSS stays under RSS_BOUND_MIB with the limits below; health p99
 * < 100 ms. (The event loop's longest delay is printed too: what a slice of large work costs.)
 */
const FILE_MIB = 8;
const RSS_BOUND_MIB = 768;
const FLOOD_MS = 3000;

describe('a flood of large reads leaves the server up, bounded and responsive', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ limits: { maxInflightReadBytes: 32 * 1024 * 1024, maxInflightReadBytesPerConnection: 16 * 1024 * 1024 } });
    writeFileSync(join(s.root, 'big.txt'), Buffer.alloc(FILE_MIB * 1024 * 1024, 'a'));
  });
  afterAll(async () => {
    await s.close();
  });

  it(`RSS < ${RSS_BOUND_MIB} MiB and health p99 < 100 ms while one client floods 8 MiB reads`, async () => {
    // The flood runs in its own process: its client work (32 MiB replies received and scanned)
    // must not share this event loop, which is the server's.
    const flood = spawn(process.execPath, [join(import.meta.dirname, 'helpers', 'flood-reads.mjs'), s.url, s.token, 'big.txt', String(FLOOD_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    flood.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<number | null>((r) => flood.once('exit', r));
    let finished = false;
    void done.then(() => (finished = true));
    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    const latencies: number[] = [];
    // Measure once the flood is under way (node takes a moment to start).
    await new Promise((r) => setTimeout(r, 300));
    while (!finished) {
      const t = performance.now();
      const res = await fetch(`${s.url}/api/health`);
      await res.json();
      latencies.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 10));
    }
    loop.disable();
    clearInterval(sampler);
    expect(await done).toBe(0);
    const outcomes = JSON.parse(out) as { ok: number; limited: number; other: number };
    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.floor(latencies.length * 0.99)]!;
    const rssMiB = peakRss / 1024 / 1024;
    const loopMaxMs = Math.round(loop.max / 1e6);
    console.log(JSON.stringify({ abuse: 'large reads', ...outcomes, healthSamples: latencies.length, healthP99Ms: Math.round(p99), loopDelayMaxMs: loopMaxMs, peakRssMiB: Math.round(rssMiB) }));
    expect((await fetch(`${s.url}/api/health`)).status).toBe(200);
    expect(outcomes.other).toBe(0);
    expect(outcomes.ok).toBeGreaterThan(0);
    expect(latencies.length).toBeGreaterThan(20);
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
