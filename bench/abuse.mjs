// bench/abuse — does hostile input from one client leave the server up, its memory bounded, and
// other clients served? (issue 9). Runs the built server: `npm run build` first.
//
//   node bench/abuse.mjs
//   ABUSE_FLOODS=patterns ABUSE_FLOOD_SECONDS=3 node bench/abuse.mjs
//
// For each case a FRESH `icpy serve` (bench/lib/icpy-server.mjs, what bin/icpy.js serve runs) in
// its own process, so a flood that kills or wedges the server cannot spoil the next case:
//   idle              nothing but the health probe (the baseline of the run)
//   batch-reads       HTTP and WebSocket batches of files.read on an 8 MiB file, plus parallel
//                     REST GETs of it
//   patterns          crafted `**.a.**.a.…**.b` patterns in events.history (HTTP and WebSocket),
//                     events.subscribe and SSE ?patterns=, against events with topics of 16 and
//                     40 segments emitted first (events.emit)
//   slow-subscribers  WebSocket connections subscribed to `**` that never read their socket,
//                     while two publishers emit 4 KB events as fast as the server acknowledges
// Processes: this one (coordinator: starts, samples the server's RSS from /proc/<pid>/status
// every 50 ms, kills), the server, one flood process (lib/abuse-flood.mjs, all hostile traffic),
// one health process (lib/abuse-health.mjs: GET /api/health one at a time, 10 ms apart, each
// with a timeout that counts as its latency). Every case first probes the idle server
// (idle_p50_ms/idle_p99_ms), then floods and probes at once for ABUSE_FLOOD_SECONDS; then the
// server gets ABUSE_RECOVER_MS to answer a health check again: server_up = process alive and
// answering. One JSON line per case. Targets: server_up, rss_mb_max < ABUSE_RSS_BOUND_MB (1024),
// health_p99_ms < 100. The bench never hangs on a dead server and exits 0 whatever the server
// did (a failed target is a figure, not a crash); it kills a server whose RSS passes
// ABUSE_KILL_RSS_MB (3072) to protect the machine.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ask, forkChild, nextMessage, sleep, stopChild } from './lib/procs.mjs';
import { emit, percentile, round } from './lib/stats.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const env = (name, dflt) => Number(process.env[name] ?? dflt);
const FLOOD_MS = env('ABUSE_FLOOD_SECONDS', 8) * 1000;
const IDLE_MS = env('ABUSE_IDLE_SECONDS', 3) * 1000;
const RECOVER_MS = env('ABUSE_RECOVER_MS', 5000);
const RSS_BOUND_MB = env('ABUSE_RSS_BOUND_MB', 1024);
const KILL_RSS_MB = env('ABUSE_KILL_RSS_MB', 3072);
const HEALTH_TIMEOUT_MS = env('ABUSE_HEALTH_TIMEOUT_MS', 2000);
const HEALTH_P99_MS = 100;
const FLOOD_CFG = {
  batch: env('ABUSE_BATCH', 16), // files.read elements per batch (16 × 8 MiB = a 128 MiB reply)
  concurrency: env('ABUSE_CONCURRENCY', 4), // HTTP batch loops, WS batch connections; 2× that REST GETs
  events: env('ABUSE_EVENTS', 1000), // events emitted before the pattern flood
  subscribers: env('ABUSE_SUBSCRIBERS', 200), // never-reading subscribers
  eventBytes: 4096,
  requestTimeoutMs: env('ABUSE_REQUEST_TIMEOUT_MS', 10_000),
  bigFile: 'big.txt',
};
const ALL = ['idle', 'batch-reads', 'patterns', 'slow-subscribers'];
const CASES = process.env.ABUSE_FLOODS ? ['idle', ...process.env.ABUSE_FLOODS.split(',').filter((c) => c !== 'idle')] : ALL;
for (const c of CASES) if (!ALL.includes(c)) throw new Error(`ABUSE_FLOODS: unknown flood '${c}' (one of ${ALL.slice(1).join(', ')})`);
const TOKEN = 'bench-' + Math.random().toString(36).slice(2);
const bench = 'abuse';

const base = mkdtempSync(join(tmpdir(), 'icpy-bench-abuse-'));
process.on('exit', () => rmSync(base, { recursive: true, force: true }));

const status = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined; // gone
  }
};
const statusMb = (pid, field) => {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status(pid) ?? '');
  return m ? Number(m[1]) / 1024 : undefined;
};

async function startServer(name) {
  const root = join(base, name);
  mkdirSync(root);
  if (name === 'batch-reads') writeFileSync(join(root, FLOOD_CFG.bigFile), Buffer.alloc(8 * 1024 * 1024, 'a'));
  const child = forkChild(join(here, 'lib/icpy-server.mjs'), [root, '--port', '0', '--token', TOKEN, '--log-level', 'error'], {
    env: { ...process.env, ICPY_RUNTIME_DIR: join(base, `runtime-${name}`) },
  });
  child.stdout.resume();
  const exit = new Promise((r) => child.once('exit', (code, signal) => r(signal ?? `exit ${code}`)));
  const { url, pid } = await nextMessage(child, 'ready', 30_000);
  return { child, url, pid, exit, exited: undefined };
}

const health = forkChild(join(here, 'lib/abuse-health.mjs'));
await nextMessage(health, 'ready');
let flooder;
/** A fresh flood process per flood: clean counters, and no request of the last flood still out. */
async function newFlooder() {
  if (flooder) await stopChild(flooder, 1000);
  flooder = forkChild(join(here, 'lib/abuse-flood.mjs'));
  await nextMessage(flooder, 'ready');
}

async function probeHealth(url, durationMs) {
  const r = await ask(health, { cmd: 'run', url, durationMs, timeoutMs: HEALTH_TIMEOUT_MS, gapMs: 10 }, durationMs + HEALTH_TIMEOUT_MS + 10_000);
  const failures = Object.values(r.failures).reduce((a, b) => a + b, 0);
  return {
    requests: r.lat.length + failures - (r.failures.timeout ?? 0),
    p50: round(percentile(r.lat, 50), 2),
    p99: round(percentile(r.lat, 99), 2),
    max: round(Math.max(...r.lat, 0), 1),
    timeouts: r.failures.timeout ?? 0,
    errors: failures - (r.failures.timeout ?? 0),
    failures: r.failures,
  };
}

/** Is the server answering again within RECOVER_MS? (→ ms it took, or undefined) */
async function recovered(server) {
  const t0 = performance.now();
  while (performance.now() - t0 < RECOVER_MS && !server.exited) {
    const r = await ask(health, { cmd: 'probe', url: server.url, timeoutMs: 1000 }, 10_000);
    if (r.outcome === 'ok') return round(performance.now() - t0);
    await sleep(200);
  }
  return undefined;
}

for (const name of CASES) {
  const server = await startServer(name);
  void server.exit.then((how) => (server.exited = how));
  const rssIdle = statusMb(server.pid, 'VmRSS');
  let rssMax = rssIdle ?? 0;
  let killedByBench = false;
  const sampler = setInterval(() => {
    const mb = statusMb(server.pid, 'VmRSS');
    if (mb === undefined) return;
    rssMax = Math.max(rssMax, mb);
    if (mb > KILL_RSS_MB && !killedByBench) {
      killedByBench = true;
      server.child.kill('SIGKILL');
    }
  }, 50);
  const idle = await probeHealth(server.url, name === 'idle' ? IDLE_MS * 2 : IDLE_MS);
  const line = { bench, flood: name };
  let flood;
  if (name === 'idle') {
    Object.assign(line, { seconds: (IDLE_MS * 2) / 1000 });
  } else {
    await newFlooder(); // fresh counters, and nothing left over from the last flood
    const prep = await ask(flooder, { cmd: 'prepare', flood: name, url: server.url, token: TOKEN, ...FLOOD_CFG }, 90_000).catch((err) => ({ failed: String(err.message) }));
    const [h, f] = await Promise.all([
      probeHealth(server.url, FLOOD_MS),
      ask(flooder, { cmd: 'flood', flood: name, durationMs: FLOOD_MS }, FLOOD_MS + FLOOD_CFG.requestTimeoutMs + 15_000).catch((err) => ({ failed: String(err.message) })),
    ]);
    flood = { h, f, prep };
  }
  const recoverMs = await recovered(server);
  clearInterval(sampler);
  const hwm = statusMb(server.pid, 'VmHWM');
  if (hwm !== undefined) rssMax = Math.max(rssMax, hwm);
  const up = !server.exited && recoverMs !== undefined;
  const h = flood?.h ?? idle;
  Object.assign(line, {
    ...(flood ? { seconds: FLOOD_MS / 1000 } : {}),
    health_requests: h.requests,
    health_p50_ms: h.p50,
    health_p99_ms: h.p99,
    health_max_ms: h.max,
    health_timeouts: h.timeouts,
    health_errors: h.errors,
    ...(flood ? { idle_p50_ms: idle.p50, idle_p99_ms: idle.p99 } : {}),
    rss_mb_idle: round(rssIdle ?? NaN, 1),
    rss_mb_max: round(rssMax, 1),
    server_up: up,
    ...(server.exited ? { server_exit: killedByBench ? `killed by the bench: RSS over ${KILL_RSS_MB} MB` : server.exited } : {}),
    ...(!server.exited && !up ? { server_state: `alive but not answering /api/health within ${RECOVER_MS} ms after the flood` } : {}),
    ...(up && flood ? { recover_ms: recoverMs } : {}),
    ...(flood
      ? {
          flood_requests: flood.f.requests,
          flood_replies: flood.f.replies,
          flood_mb_received: round((flood.f.bytes ?? 0) / 1048576, 1),
          ...(flood.prep.subscribers ? { subscribers: flood.prep.subscribers } : {}),
          errors_seen: flood.f.errors_seen ?? {},
          ...(Object.keys(flood.prep.errors_seen ?? {}).length ? { prepare_errors_seen: flood.prep.errors_seen } : {}),
          ...(flood.f.failed || flood.prep.failed ? { flood_failed: flood.f.failed ?? flood.prep.failed } : {}),
        }
      : {}),
    targets: { server_up: true, rss_mb_max: `<${RSS_BOUND_MB}`, health_p99_ms: `<${HEALTH_P99_MS}` },
    ok: up && rssMax < RSS_BOUND_MB && h.p99 < HEALTH_P99_MS,
  });
  emit(line);
  await stopChild(server.child, 2000);
}
health.disconnect();
flooder?.disconnect();
process.exit(0);
