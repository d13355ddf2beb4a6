// WebSocket fan-out: one publisher to 100 and 1,000 WebSocket clients, icpy against a bare `ws`
// broadcast server measured in the same run (run `npm run build` first: icpy runs from dist/).
//
// Processes (nothing shares a process with a server under test):
//   - icpy server:  `icpy serve TMPDIR --port 0 --token T` (lib/icpy-server.mjs = dist/app/serve.js)
//   - bare server:  lib/bare-server.mjs, a plain `ws` server that re-sends each frame from /pub
//                   to every other connection
//   - 2 client processes (lib/ws-clients.mjs), each holding half the connections to BOTH servers
//   - this process: the publisher (one WebSocket to each server) and the coordinator
//
// icpy clients connect to /api/ws?token=T and call events.subscribe {patterns:["client.bench.**"]};
// the publisher calls events.emit {topic:"client.bench.tick", data:{i,t,p}} over its own
// WebSocket, so icpy's figure includes the whole path a real client event takes (JSON-RPC
// decode, param validation, broker, per-subscriber encode + send). The bare publisher sends a
// frame shaped and sized like icpy's delivered notification, so both send the same bytes.
//
// Throughput: the publisher sends as fast as delivery allows with at most WINDOW events not
// yet received by every client; figure = frames delivered per second (events × clients).
// Latency: the publisher sends at a fixed moderate rate (25% of bare's saturation event rate,
// the same rate for both); figure = receive time − send time over every frame, with
// performance.timeOrigin + performance.now() (one machine, so one clock).
//
//   node bench/ws-fanout.mjs
//   BENCH_CLIENTS=1000 BENCH_ROUNDS=5 node bench/ws-fanout.mjs
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { ask, cpuMs, forkChild, machineCpuMs, nextMessage, sleep, stopChild } from './lib/procs.mjs';
import { emit, median, nowMs, percentile, round } from './lib/stats.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const CLIENTS = (process.env.BENCH_CLIENTS ?? '100,1000').split(',').map(Number);
const CLIENT_PROCS = 2;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SAT_MS = Number(process.env.BENCH_SAT_MS ?? 2000);
const LAT_ROUNDS = Number(process.env.BENCH_LAT_ROUNDS ?? 4);
const LAT_MS = Number(process.env.BENCH_LAT_MS ?? 1500);
const WINDOW = Number(process.env.BENCH_WINDOW ?? 32);
const TOPIC = 'client.bench.tick';
const PAD = 'x'.repeat(64);
const PROFILE = process.env.BENCH_PROFILE;
const TOKEN = 'bench-' + Math.random().toString(36).slice(2);

const tmp = mkdtempSync(join(tmpdir(), 'icpy-bench-ws-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const root = join(tmp, 'workspace');
rmSync(root, { recursive: true, force: true });
await import('node:fs').then((fs) => fs.mkdirSync(root));

// ---- processes ---------------------------------------------------------------------------

async function startServer(kind) {
  const child =
    kind === 'icpy'
      ? forkChild(join(here, 'lib/icpy-server.mjs'), [root, '--host', '127.0.0.1', '--port', '0', '--token', TOKEN, '--log-level', 'warn'], {
          env: { ...process.env, ICPY_RUNTIME_DIR: join(tmp, 'runtime') },
          // BENCH_PROFILE=DIR writes a CPU profile of each server there (open it in Chrome DevTools).
          execArgv: PROFILE ? ['--cpu-prof', '--cpu-prof-dir', PROFILE] : [],
        })
      : forkChild(join(here, 'lib/bare-server.mjs'), [], { execArgv: PROFILE ? ['--cpu-prof', '--cpu-prof-dir', PROFILE] : [] });
  child.stdout.resume();
  const { url, pid } = await nextMessage(child, 'ready', 20_000);
  const ws = url.replace(/^http/, 'ws');
  return {
    kind,
    child,
    pid,
    subUrl: kind === 'icpy' ? `${ws}/api/ws?token=${TOKEN}&kind=browser&name=bench` : `${ws}/sub`,
    pubUrl: kind === 'icpy' ? `${ws}/api/ws?token=${TOKEN}&kind=agent&name=publisher` : `${ws}/pub`,
  };
}

const clientProcs = [];
const done = new Map(); // group -> number[] (highest index complete, per client process)
const doneWaiters = new Set();

async function startClients() {
  for (let p = 0; p < CLIENT_PROCS; p++) {
    const child = forkChild(join(here, 'lib/ws-clients.mjs'));
    child.stdout.resume();
    child.on('message', (m) => {
      if (m?.type !== 'done') return;
      done.get(m.group)[p] = m.i;
      for (const w of doneWaiters) w();
    });
    await nextMessage(child, 'ready', 20_000);
    clientProcs.push(child);
  }
}

/** Highest event index every client of the group has received. */
function completed(group) {
  return Math.min(...done.get(group));
}

async function connectClients(group, server, n) {
  done.set(group, new Array(CLIENT_PROCS).fill(-1));
  const per = Math.ceil(n / CLIENT_PROCS);
  const results = await Promise.all(
    clientProcs.map((c, p) =>
      ask(
        c,
        {
          cmd: 'connect',
          group,
          url: server.subUrl,
          count: Math.min(per, n - p * per),
          subscribe: server.kind === 'icpy' ? ['client.bench.**'] : undefined,
        },
        120_000,
      ),
    ),
  );
  const total = results.reduce((a, r) => a + r.count, 0);
  if (total !== n) throw new Error(`${group}: connected ${total} of ${n}`);
}

// ---- publisher ---------------------------------------------------------------------------

class Publisher {
  constructor(server) {
    this.kind = server.kind;
    this.url = server.pubUrl;
    this.next = 0; // index of the next event
  }

  async open() {
    this.ws = new WebSocket(this.url, { perMessageDeflate: false });
    this.ws.on('message', (data) => {
      const s = data.toString();
      if (s.includes('"error"')) {
        process.stderr.write(`bench/ws-fanout: publish failed: ${s}\n`);
        process.exit(1);
      }
    });
    await new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
    });
  }

  publish() {
    const i = this.next++;
    const t = nowMs();
    const data = `{"i":${i},"t":${t},"p":"${PAD}"}`;
    if (this.kind === 'icpy') {
      this.ws.send(`{"jsonrpc":"2.0","id":${i + 1},"method":"events.emit","params":{"topic":"${TOPIC}","data":${data}}}`);
    } else {
      // Shaped and sized like icpy's delivered notification.
      this.ws.send(
        `{"jsonrpc":"2.0","method":"event","params":{"subscription":"s1001","topic":"${TOPIC}","seq":${i + 2001},"time":${Date.now()},` +
          `"source":{"connectionId":"c-5f3e2a1b","kind":"agent","name":"publisher"},"data":${data}}}`,
      );
    }
  }

  close() {
    this.ws.terminate();
  }
}

function waitUntil(cond, timeoutMs, what) {
  if (cond()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!cond()) return;
      clearTimeout(timer);
      doneWaiters.delete(check);
      resolve();
    };
    const timer = setTimeout(() => {
      doneWaiters.delete(check);
      reject(new Error(`timed out waiting for ${what}`));
    }, timeoutMs);
    doneWaiters.add(check);
  });
}

const drained = (group, pub) => waitUntil(() => completed(group) >= pub.next - 1, 30_000, `${group} to drain`);

/** Send as fast as delivery allows (≤ WINDOW events in flight) for `ms`; deliveries/s. */
async function saturate(group, pub, server, n, ms) {
  await drained(group, pub);
  let sending = true;
  const pump = () => {
    while (sending && pub.next - 1 - completed(group) < WINDOW) pub.publish();
  };
  doneWaiters.add(pump);
  const c0 = completed(group);
  const t0 = performance.now();
  const cpu0 = cpuMs(server.pid);
  const ccpu0 = clientProcs.reduce((a, c) => a + cpuMs(c.pid), 0);
  const m0 = machineCpuMs();
  pump();
  await sleep(ms);
  const c1 = completed(group);
  const t1 = performance.now();
  const cpu1 = cpuMs(server.pid);
  const ccpu1 = clientProcs.reduce((a, c) => a + cpuMs(c.pid), 0);
  const m1 = machineCpuMs();
  sending = false;
  doneWaiters.delete(pump);
  await drained(group, pub);
  const events = c1 - c0;
  const secs = (t1 - t0) / 1000;
  return {
    deliveriesPerSec: (events * n) / secs,
    eventsPerSec: events / secs,
    serverCpuPct: ((cpu1 - cpu0) / (t1 - t0)) * 100,
    serverCpuUsPerDelivery: ((cpu1 - cpu0) * 1000) / (events * n),
    clientCpuPct: ((ccpu1 - ccpu0) / (t1 - t0)) * 100,
    machineBusyPct: ((m1.busy - m0.busy) / (m1.total - m0.total)) * 100,
  };
}

/** Send at `rate` events/s for `ms` and collect every frame's latency. */
async function fixedRate(group, pub, rate, ms, recordIt) {
  await drained(group, pub);
  if (recordIt) await Promise.all(clientProcs.map((c) => ask(c, { cmd: 'record', on: true })));
  const total = Math.max(1, Math.round((rate * ms) / 1000));
  const t0 = performance.now();
  let sent = 0;
  await new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
      while (sent < due) {
        pub.publish();
        sent++;
      }
      if (sent >= total) resolve();
      else setTimeout(tick, Math.max(0, ((sent * 1000) / rate - (performance.now() - t0)) | 0));
    };
    tick();
  });
  await drained(group, pub);
  if (!recordIt) return undefined;
  const parts = await Promise.all(clientProcs.map((c) => ask(c, { cmd: 'record', on: false })));
  const all = new Float64Array(parts.reduce((a, p) => a + p.samples.length, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p.samples, o);
    o += p.samples.length;
  }
  return all;
}

/** Percentiles over the pooled samples of several rounds. */
function summarize(rounds) {
  const all = new Float64Array(rounds.reduce((a, r) => a + r.length, 0));
  let o = 0;
  for (const r of rounds) {
    all.set(r, o);
    o += r.length;
  }
  all.sort();
  return { samples: all.length, p50: percentile(all, 50), p99: percentile(all, 99), max: all[all.length - 1] };
}

// ---- run ---------------------------------------------------------------------------------

const servers = { bare: await startServer('bare'), icpy: await startServer('icpy') };
await startClients();

for (const n of CLIENTS) {
  const pubs = {};
  for (const kind of ['bare', 'icpy']) {
    await connectClients(`${kind}-${n}`, servers[kind], n);
    pubs[kind] = new Publisher(servers[kind]);
    await pubs[kind].open();
  }
  const sat = { bare: [], icpy: [] };
  // Warm-up (not recorded): JIT both servers on the hot path.
  for (const kind of ['bare', 'icpy']) await saturate(`${kind}-${n}`, pubs[kind], servers[kind], n, 1000);
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 ? ['icpy', 'bare'] : ['bare', 'icpy'];
    for (const kind of order) sat[kind].push(await saturate(`${kind}-${n}`, pubs[kind], servers[kind], n, SAT_MS));
  }
  const med = (kind, key) => median(sat[kind].map((s) => s[key]));
  const bareRate = med('bare', 'deliveriesPerSec');
  const icpyRate = med('icpy', 'deliveriesPerSec');
  emit({
    bench: 'ws-fanout',
    metric: 'throughput',
    clients: n,
    rounds: ROUNDS,
    window_events: WINDOW,
    icpy_events_per_s: Math.round(icpyRate),
    baseline: 'bare ws broadcast',
    baseline_events_per_s: Math.round(bareRate),
    ratio: round(icpyRate / bareRate, 3),
    target_min_ratio: 0.65,
    ok: icpyRate / bareRate >= 0.65,
    // What the throughput ratio would be if the server were the only thing using its core:
    // bare's server CPU per delivered frame ÷ icpy's. Steadier than `ratio` on a shared machine.
    cpu_ratio: round(med('bare', 'serverCpuUsPerDelivery') / med('icpy', 'serverCpuUsPerDelivery'), 3),
    icpy_publishes_per_s: Math.round(med('icpy', 'eventsPerSec')),
    baseline_publishes_per_s: Math.round(med('bare', 'eventsPerSec')),
    icpy_server_cpu_pct: round(med('icpy', 'serverCpuPct'), 1),
    baseline_server_cpu_pct: round(med('bare', 'serverCpuPct'), 1),
    icpy_server_cpu_us_per_delivery: round(med('icpy', 'serverCpuUsPerDelivery'), 3),
    baseline_server_cpu_us_per_delivery: round(med('bare', 'serverCpuUsPerDelivery'), 3),
    icpy_clients_cpu_pct: round(med('icpy', 'clientCpuPct'), 1),
    baseline_clients_cpu_pct: round(med('bare', 'clientCpuPct'), 1),
    icpy_machine_busy_pct: round(med('icpy', 'machineBusyPct'), 1),
    baseline_machine_busy_pct: round(med('bare', 'machineBusyPct'), 1),
  });

  // Latency at the same moderate fixed rate for both: a quarter of bare's saturation rate.
  const rate = Math.max(1, Math.round((0.25 * bareRate) / n));
  for (const kind of ['bare', 'icpy']) await fixedRate(`${kind}-${n}`, pubs[kind], rate, 500, false);
  const samples = { bare: [], icpy: [] };
  for (let r = 0; r < LAT_ROUNDS; r++) {
    const order = r % 2 ? ['icpy', 'bare'] : ['bare', 'icpy'];
    for (const kind of order) samples[kind].push(await fixedRate(`${kind}-${n}`, pubs[kind], rate, LAT_MS, true));
  }
  const lat = { bare: summarize(samples.bare), icpy: summarize(samples.icpy) };
  emit({
    bench: 'ws-fanout',
    metric: 'latency',
    clients: n,
    rate_events_per_s: rate,
    rounds: LAT_ROUNDS,
    samples: lat.icpy.samples,
    icpy_p50_ms: round(lat.icpy.p50, 3),
    icpy_p99_ms: round(lat.icpy.p99, 3),
    icpy_max_ms: round(lat.icpy.max, 3),
    baseline: 'bare ws broadcast',
    baseline_p50_ms: round(lat.bare.p50, 3),
    baseline_p99_ms: round(lat.bare.p99, 3),
    baseline_max_ms: round(lat.bare.max, 3),
    p99_ratio: round(lat.icpy.p99 / lat.bare.p99, 3),
    target_max_p99_ratio: 1.5,
    ok: lat.icpy.p99 / lat.bare.p99 <= 1.5,
  });

  for (const kind of ['bare', 'icpy']) {
    pubs[kind].close();
    await Promise.all(clientProcs.map((c) => ask(c, { cmd: 'close', group: `${kind}-${n}` }, 30_000)));
  }
}

await Promise.all([...clientProcs, servers.bare.child, servers.icpy.child].map((c) => stopChild(c)));
