// bench/files — the files service under load, beside a bare Node HTTP server and Jupyter Server.
//
//   npm run build && node bench/files.mjs          (FILES_BENCH_SECONDS=0.5 per phase and
//                                                  FILES_BENCH_ROUNDS=16 by default,
//                                                  FILES_BENCH_WARMUP_SECONDS=1.5 per op and target)
//
// Figures (one JSON line each):
// - saturation: 50 closed-loop clients in 10 processes (separate from every server) doing a 4 KB
//   read, a 4 KB write, a stat, or a 1,000-entry list — over icpy's WebSocket, icpy's REST (GET,
//   PUT, GET ?stat, and POST /api/rpc/files.list — there is no REST listing route), a
//   bare Node HTTP server (fs.promises; the raw baseline) and Jupyter's contents API. Median
//   over rounds of ops/s, p50 and p99 (`rounds_ops_s`: each round's ops/s).
// - fixed rate: the same at an offered 500 ops/s spread over the 50 clients (latency from send),
//   in FILES_BENCH_FIXED_ROUNDS=3 interleaved rounds of FILES_BENCH_FIXED_SECONDS=2; p99 is the
//   median over rounds (`p99_ms_rounds`: each round's).
// - ratio lines: icpy vs bare and vs Jupyter, each the median of the PER-ROUND ratios
//   (`ops_vs_bare_rounds`).
// - mixed: 25 clients reading and 25 writing 4 KB files at once (closed loop), every target,
//   interleaved the same way; `mixed` lines per target and op, `mixed-ratio` lines per icpy
//   transport and op (ops/s and p99 vs bare, each op's share of the target's throughput beside
//   bare's share). Target: each op >= 0.8x bare ops/s with p99 <= 1.25x bare's.
// - watcher: start time and memory on a 100,000-file tree (icpy's FileWatcher vs raw
//   @parcel/watcher); external-write-to-event latency (icpy event on the WebSocket vs a raw
//   in-process @parcel/watcher callback on the same writes).
// - search: 100 MB of text, files.search over the WebSocket vs the `rg` command itself.
// - upload: 1 GB PUT streamed to icpy; the server's peak RSS before and after.
//
// Method of the load part (paired, fine-grained interleaving — the test VM has bursts of CPU
// steal lasting seconds): every client process holds clients of ALL targets at once; after a
// warm-up of every target and op, each op is measured in FILES_BENCH_ROUNDS rounds of one short
// closed-loop phase per target (target order rotated each round), so one op's targets alternate
// every FILES_BENCH_SECONDS and a ratio compares round r of icpy with round r of bare, measured
// seconds apart; the median of those ratios cancels slow drifts and a burst hits few rounds.
// The fixed-rate phases follow the op's rounds, interleaved the same way.
// Env: FILES_BENCH_ONLY=icpy-ws,icpy-rest,icpy-rest-alt,bare-node,jupyter (load targets),
// FILES_BENCH_OPS=read,write,stat,list,mixed, FILES_BENCH_PARTS=load,latency,search,upload,watcher,
// FILES_BENCH_ALT_DIST=DIR (icpy-rest-alt: a second server from another build), BENCH_PROFILE=DIR.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import watcher from '@parcel/watcher';
import WebSocket from 'ws';
import { forkChild, nextMessage } from './lib/procs.mjs';
import { startJupyter } from './lib/jupyter.mjs';
import { emit, median, percentile, round, stealMeter } from './lib/stats.mjs';

const SECONDS = Number(process.env.FILES_BENCH_SECONDS ?? 0.5);
const WARMUP_MS = Number(process.env.FILES_BENCH_WARMUP_SECONDS ?? 1.5) * 1000;
const ROUNDS = Math.max(1, Number(process.env.FILES_BENCH_ROUNDS ?? 16));
const FIXED_ROUNDS = Math.max(1, Number(process.env.FILES_BENCH_FIXED_ROUNDS ?? 3));
const FIXED_SECONDS = Number(process.env.FILES_BENCH_FIXED_SECONDS ?? 2);
const PROCS = 10;
const PER_PROC = 5;
const CLIENTS = PROCS * PER_PROC;
const RATE = 500;
const LIST_RATE = 10;
// BENCH_PROFILE=DIR: a --cpu-prof profile of each server (icpy, bare) is written there at exit.
const PROFILE = process.env.BENCH_PROFILE;
const profArgs = PROFILE ? ['--cpu-prof', '--cpu-prof-dir', PROFILE] : [];
const TOKEN = 'bench-' + Math.random().toString(36).slice(2);
const here = new URL('.', import.meta.url).pathname;
const bench = 'files';

if (!existsSync(join(here, '../dist/app/serve.js'))) {
  process.stderr.write('bench/files: run `npm run build` first (the server under test is dist/)\n');
  process.exit(1);
}

const base = mkdtempSync(join(tmpdir(), 'icpy-bench-files-'));
process.on('exit', () => rmSync(base, { recursive: true, force: true }));

/**
 * One root per target (r/: 1,000 files to read, w/: one file per client to write). Every write
 * folder is made first, one right after the other, and only then the read folders: ext4 puts a
 * new file's inode in its folder's block group, and the cost of creating one (each atomic write
 * creates a temp file) depends on that group — its allocator scans past every inode freed there
 * in the last minute. With each root made whole in turn, the write folders landed in different
 * groups, and in an A/A run (the same build as icpy-rest and icpy-rest-alt) writes of the one
 * whose folder came first ran at 0.67–0.74× bare where the other's ran at 0.83–0.90×; made the
 * other way round, the bias followed the folder. `layout` prints the folders' inode numbers
 * (close numbers: one group).
 */
function makeRoots(names) {
  const body = Buffer.alloc(4096, 'a');
  const roots = Object.fromEntries(names.map((name) => [name, join(base, name)]));
  for (const root of Object.values(roots)) {
    mkdirSync(join(root, 'w'), { recursive: true });
    for (let i = 0; i < CLIENTS; i++) writeFileSync(join(root, 'w', `c${i}.txt`), body);
  }
  for (const root of Object.values(roots)) {
    mkdirSync(join(root, 'r'));
    for (let i = 0; i < 1000; i++) writeFileSync(join(root, 'r', `f${i}.txt`), body);
  }
  return roots;
}

async function startIcpy(root, dist) {
  const child = forkChild(join(here, 'lib/icpy-server.mjs'), [root, '--port', '0', '--token', TOKEN, '--log-level', 'error'], {
    env: { ...process.env, ICPY_RUNTIME_DIR: join(base, dist ? 'runtime-alt' : 'runtime'), ...(dist ? { ICPY_BENCH_DIST: dist } : {}) },
    execArgv: profArgs,
  });
  const ready = await nextMessage(child, 'ready');
  return { kind: 'icpy', url: ready.url, pid: ready.pid, child };
}

async function startBare(root) {
  const child = forkChild(join(here, 'lib/files-bare-server.mjs'), [root], { execArgv: profArgs });
  const ready = await nextMessage(child, 'ready');
  return { url: ready.url, pid: ready.pid, child };
}

// ---------------------------------------------------------------- load phases
const workers = [];
for (let i = 0; i < PROCS; i++) {
  const w = forkChild(join(here, 'lib/files-clients.mjs'));
  workers.push(w);
}
await Promise.all(workers.map((w) => nextMessage(w, 'ready')));

async function all(cmd, type, timeoutMs = 120_000) {
  const replies = workers.map((w) => nextMessage(w, type, timeoutMs));
  for (const [i, w] of workers.entries()) w.send(typeof cmd === 'function' ? cmd(i) : cmd);
  return Promise.all(replies);
}

/** ops/s and latency percentiles of one phase's latencies (Float64Arrays from the clients). */
function latStats(parts, wall, seconds) {
  const lat = new Float64Array(parts.reduce((n, a) => n + a.length, 0));
  let k = 0;
  for (const a of parts) {
    lat.set(a, k);
    k += a.length;
  }
  return { ops: lat.length, ops_s: round(lat.length / Math.max(wall, seconds)), p50_ms: round(percentile(lat, 50), 3), p99_ms: round(percentile(lat, 99), 3) };
}

/** CPU ms (user + system) of a process, and of its main thread alone, from /proc (Linux; else undefined). */
function cpuMsOf(pid) {
  const ticks = (file) => {
    try {
      // fields after the ") " that closes the command name: utime is the 12th, stime the 13th
      const f = readFileSync(file, 'utf8').split(') ').pop().split(' ');
      return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // USER_HZ is 100 on Linux
    } catch {
      return undefined;
    }
  };
  return pid ? { all: ticks(`/proc/${pid}/stat`), main: ticks(`/proc/${pid}/task/${pid}/stat`) } : undefined;
}

/** The server process behind a load target name (for its CPU per op). */
const pidOf = (key) => (key === 'bare-node' ? bare.pid : key === 'icpy-rest-alt' ? alt?.pid : key.startsWith('icpy') ? icpy.pid : undefined);

async function phase(key, op, mode, rate = RATE, seconds = SECONDS) {
  const durationMs = seconds * 1000;
  const steal = stealMeter();
  const cpu0 = cpuMsOf(pidOf(key));
  const t0 = performance.now();
  const replies = await all({ cmd: 'run', key, op, mode, durationMs, ratePerClient: rate / CLIENTS }, 'run.ok');
  const wall = (performance.now() - t0) / 1000;
  const cpu1 = cpuMsOf(pidOf(key));
  const errors = replies.reduce((n, r) => n + r.errors, 0);
  const firstError = replies.find((r) => r.firstError)?.firstError;
  const out = { ...latStats(replies.map((r) => r.lat), wall, seconds), errors, steal_pct: steal(), ...(firstError ? { firstError } : {}) };
  // The server's CPU per op in this phase (all threads, and the main thread alone): what a
  // request costs, beside what it achieves. /proc counts in 10 ms ticks, so one phase is coarse;
  // the summaries take the median over rounds.
  if (cpu0?.all !== undefined && cpu1?.all !== undefined && out.ops > 0) {
    out.server_cpu_ms_per_op = round((cpu1.all - cpu0.all) / out.ops, 4);
    out.server_main_cpu_ms_per_op = round((cpu1.main - cpu0.main) / out.ops, 4);
  }
  // A mixed phase also reports each op on its own (its readers and writers ran side by side).
  if (op === 'mixed') {
    out.byOp = {};
    for (const o of ['read', 'write']) out.byOp[o] = latStats(replies.map((r) => r.byOp[o] ?? new Float64Array(0)), wall, seconds);
  }
  return out;
}

// FILES_BENCH_ALT_DIST=DIR (a second build of icpy, e.g. `npx tsc -p tsconfig.build.json
// --outDir dist-old`): one more load target, icpy-rest-alt, the REST clients against a server
// from that build, interleaved with the others — a before/after of a change in one run.
const ALT_DIST = process.env.FILES_BENCH_ALT_DIST ? resolve(process.env.FILES_BENCH_ALT_DIST) : undefined;
const roots = makeRoots(['icpy', 'bare', 'jupyter', ...(ALT_DIST ? ['alt'] : [])]);
emit({ bench, figure: 'layout', write_folder_inodes: Object.fromEntries(Object.entries(roots).map(([k, r]) => [k, statSync(join(r, 'w')).ino])) });
const icpy = await startIcpy(roots.icpy);
const alt = ALT_DIST ? await startIcpy(roots.alt, ALT_DIST) : undefined;
const bare = await startBare(roots.bare);
const started = await startJupyter({ root: roots.jupyter, token: TOKEN });
const jupyter = started.error ? undefined : started;
if (!jupyter) emit({ bench, figure: 'jupyter', skipped: true, reason: `jupyter-server is not installed or did not start (apt-get install -y jupyter-server): ${started.error}` });

const ONLY = process.env.FILES_BENCH_ONLY?.split(',');
const PARTS = process.env.FILES_BENCH_PARTS?.split(',') ?? ['load', 'latency', 'search', 'upload', 'watcher'];
const allTargets = [
  { name: 'icpy-ws', target: { kind: 'icpy-ws', url: icpy.url, token: TOKEN } },
  { name: 'icpy-rest', target: { kind: 'icpy-rest', url: icpy.url, token: TOKEN } },
  ...(alt ? [{ name: 'icpy-rest-alt', target: { kind: 'icpy-rest', url: alt.url, token: TOKEN } }] : []),
  { name: 'bare-node', target: { kind: 'bare', url: bare.url } },
  ...(jupyter ? [{ name: 'jupyter', target: { kind: 'jupyter', url: jupyter.url, token: TOKEN } }] : []),
];
const targets = PARTS.includes('load') ? allTargets.filter((t) => !ONLY || ONLY.includes(t.name)) : [];
// 'mixed': 25 clients reading and 25 writing 4 KB files at once (closed loop), each op reported on
// its own — a fair server splits its throughput between them as the bare one does.
const OPS = process.env.FILES_BENCH_OPS?.split(',') ?? ['read', 'write', 'stat', 'list', 'mixed'];
const SINGLE_OPS = OPS.filter((op) => op !== 'mixed');
const results = {};
// Every worker holds clients of every target at once (one set per target name); the idle sets'
// keep-alive sockets and WebSockets just stay open, so targets can alternate phase by phase.
for (const t of targets) await all((i) => ({ cmd: 'setup', key: t.name, target: t.target, clients: PER_PROC, base: i * PER_PROC }), 'setup.ok');
// Warm-up pass over EVERY target before any is measured. The 10 client processes share the 2
// cores with the server, so a cold load generator slows whichever target is measured first: with
// only a per-target warm-up the first target's clients spent ~0.48 ms CPU per read vs ~0.14 ms
// once warm, and that target (icpy or bare, whichever came first) lost up to half its ops/s.
for (const t of targets) for (const op of OPS) await all({ cmd: 'run', key: t.name, op, mode: 'closed', durationMs: WARMUP_MS }, 'run.ok');
// Paired, fine-grained interleaving. The VM has bursts of CPU steal lasting seconds: with one
// ~15 s block per target a burst landed on one target and the icpy/bare ratios swung 0.5–1.2
// between runs. Now, op by op, each of ROUNDS rounds runs one short closed-loop phase
// (FILES_BENCH_SECONDS) per target, target order rotated each round, so one op's targets alternate
// every phase; round r of icpy and round r of bare are seconds apart and the ratio lines take the
// median of the per-round ratios. The fixed-rate phases follow, interleaved too.
/** n rounds of one phase per target, target order rotated each round → phases per target name. */
async function interleaved(n, run) {
  const out = {};
  for (let r = 0; r < n; r++) {
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(k + r) % targets.length];
      (out[t.name] ??= []).push(await run(t));
    }
  }
  return out;
}

/** Medians over a target's rounds (each round: one phase()), errors summed. */
function summarize(rounds) {
  const firstError = rounds.find((x) => x.firstError)?.firstError;
  return {
    ops_s: round(median(rounds.map((x) => x.ops_s))),
    p50_ms: round(median(rounds.map((x) => x.p50_ms)), 3),
    p99_ms: round(median(rounds.map((x) => x.p99_ms)), 3),
    steal_pct: round(median(rounds.map((x) => x.steal_pct ?? 0)), 1),
    ...(rounds[0]?.server_cpu_ms_per_op !== undefined
      ? { server_cpu_ms_per_op: round(median(rounds.map((x) => x.server_cpu_ms_per_op)), 4), server_main_cpu_ms_per_op: round(median(rounds.map((x) => x.server_main_cpu_ms_per_op)), 4) }
      : {}),
    errors: rounds.reduce((n, x) => n + (x.errors ?? 0), 0),
    ...(firstError ? { firstError } : {}),
  };
}

for (const op of SINGLE_OPS) {
  // A list op takes 0.3–4 s (Jupyter), so each list phase lasts seconds anyway (its clients'
  // last ops overrun the 0.5 s): a quarter of the rounds, at least 3, keeps the run short.
  const satRounds = await interleaved(op === 'list' ? Math.max(3, Math.ceil(ROUNDS / 4)) : ROUNDS, (t) => phase(t.name, op, 'closed'));
  // A 1,000-entry list is ~1,000 stats: no server here does 500/s, so it is offered 10/s.
  const rate = op === 'list' ? LIST_RATE : RATE;
  // Fixed rate, also interleaved: FIXED_ROUNDS rounds of FIXED_SECONDS per target, p99 the median
  // over rounds (one 30 ms stall of the VM is ~15 late replies at 500/s: a whole p99 in one round).
  const fixedRounds = await interleaved(FIXED_ROUNDS, (t) => phase(t.name, op, 'rate', rate, FIXED_SECONDS));
  for (const t of targets) {
    const rs = fixedRounds[t.name];
    const fixed = { ops: rs.reduce((n, x) => n + x.ops, 0), ...summarize(rs), p99_ms_rounds: rs.map((x) => round(x.p99_ms, 3)), steal_pct_rounds: rs.map((x) => x.steal_pct) };
    emit({ bench, figure: 'fixed-rate', target: t.name, op, clients: CLIENTS, offered_ops_s: rate, rounds: rs.length, ...fixed });
    const sr = satRounds[t.name];
    const sat = { ...summarize(sr), rounds_ops_s: sr.map((x) => round(x.ops_s)) };
    results[`${t.name}/${op}`] = { fixed, sat, rounds: sr };
  }
}
// Mixed read+write, interleaved like the others (closed loop only: the question is how a
// saturated server splits its throughput between the two ops).
const mixed = OPS.includes('mixed') ? await interleaved(ROUNDS, (t) => phase(t.name, 'mixed', 'closed')) : undefined;
await all({ cmd: 'teardown' }, 'teardown.ok');
for (const t of targets) {
  for (const op of SINGLE_OPS) {
    const { sat, rounds } = results[`${t.name}/${op}`];
    emit({ bench, figure: 'saturation', target: t.name, op, clients: CLIENTS, rounds: rounds.length, ...sat });
  }
}
for (const w of workers) w.disconnect();

/** Per-round ratios a[r].field / b[r].field (the two phases of round r ran seconds apart). */
const paired = (a, b, field) => a.map((x, r) => x[field] / b[r][field]);
for (const via of ['icpy-ws', 'icpy-rest', 'icpy-rest-alt']) {
  for (const op of SINGLE_OPS) {
    const me = results[`${via}/${op}`];
    const b = results[`bare-node/${op}`];
    if (!me || !b) continue;
    const j = results[`jupyter/${op}`];
    const opsRounds = paired(me.rounds, b.rounds, 'ops_s');
    emit({
      bench,
      figure: 'ratio',
      target: via,
      op,
      ops_vs_bare: round(median(opsRounds)),
      p99_vs_bare: round(median(paired(me.rounds, b.rounds, 'p99_ms'))),
      ops_vs_bare_rounds: opsRounds.map((x) => round(x)),
      ...(j ? { ops_vs_jupyter: round(median(paired(me.rounds, j.rounds, 'ops_s'))) } : {}),
      fixed_rate_p99_ms: me.fixed.p99_ms,
      targets: { ops_vs_bare: '>=0.8', p99_vs_bare: '<=1.25', ops_vs_jupyter: '>=3', fixed_rate_p99_ms: '<5' },
    });
  }
}
if (mixed) {
  const sub = (rounds, op) => rounds.map((x) => ({ ...x.byOp[op], steal_pct: x.steal_pct }));
  // Server CPU per op of a mixed phase (reads and writes together: one process serves both).
  const cpuOfMixed = (rs) =>
    rs[0]?.server_cpu_ms_per_op !== undefined
      ? { server_cpu_ms_per_op: round(median(rs.map((x) => x.server_cpu_ms_per_op)), 4), server_main_cpu_ms_per_op: round(median(rs.map((x) => x.server_main_cpu_ms_per_op)), 4) }
      : {};
  for (const t of targets) {
    const rs = mixed[t.name];
    for (const op of ['read', 'write']) {
      const rounds = sub(rs, op);
      emit({ bench, figure: 'mixed', target: t.name, op, readers: CLIENTS / 2, writers: CLIENTS / 2, rounds: rounds.length, ...summarize(rounds), rounds_ops_s: rounds.map((x) => round(x.ops_s)), total_ops_s: round(median(rs.map((x) => x.ops_s))), ...cpuOfMixed(rs), errors: rs.reduce((n, x) => n + x.errors, 0), ...(rs.find((x) => x.firstError) ? { firstError: rs.find((x) => x.firstError).firstError } : {}) });
    }
  }
  for (const via of ['icpy-ws', 'icpy-rest', 'icpy-rest-alt']) {
    const me = mixed[via];
    const b = mixed['bare-node'];
    if (!me || !b) continue;
    const j = mixed.jupyter;
    for (const op of ['read', 'write']) {
      const mine = sub(me, op);
      const theirs = sub(b, op);
      const opsRounds = paired(mine, theirs, 'ops_s');
      const ops_vs_bare = round(median(opsRounds));
      const p99_vs_bare = round(median(paired(mine, theirs, 'p99_ms')));
      emit({
        bench,
        figure: 'mixed-ratio',
        target: via,
        op,
        ops_vs_bare,
        p99_vs_bare,
        ops_vs_bare_rounds: opsRounds.map((x) => round(x)),
        // this op's share of the target's mixed throughput (a fair split of 25 + 25 clients ≈ the bare server's)
        share: round(median(me.map((x) => x.byOp[op].ops_s / x.ops_s))),
        bare_share: round(median(b.map((x) => x.byOp[op].ops_s / x.ops_s))),
        total_vs_bare: round(median(paired(me, b, 'ops_s'))),
        ...(me[0]?.server_cpu_ms_per_op !== undefined && b[0]?.server_cpu_ms_per_op !== undefined
          ? { main_cpu_per_op_vs_bare: round(median(paired(me, b, 'server_main_cpu_ms_per_op'))) }
          : {}),
        ...(j ? { ops_vs_jupyter: round(median(paired(mine, sub(j, op), 'ops_s'))) } : {}),
        targets: { ops_vs_bare: '>=0.8', p99_vs_bare: '<=1.25' },
        ok: ops_vs_bare >= 0.8 && p99_vs_bare <= 1.25,
      });
    }
  }
}
jupyter?.stop();

// ---------------------------------------------------------------- external change → event
if (PARTS.includes('latency')) {
  const ws = new WebSocket(`${icpy.url.replace(/^http/, 'ws')}/api/ws?token=${TOKEN}`);
  await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
  const seen = new Map();
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    if (m.method === 'event') for (const p of m.params.data.paths ?? []) if (!seen.has(p)) seen.set(p, performance.now());
  });
  ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'events.subscribe', params: { patterns: ['fs.**'] } }));
  const rawSeen = new Map();
  const latDir = join(roots.icpy, 'lat');
  mkdirSync(latDir);
  const rawSub = await watcher.subscribe(roots.icpy, (_e, evs) => {
    const t = performance.now();
    for (const e of evs) if (!rawSeen.has(e.path)) rawSeen.set(e.path, t);
  });
  await new Promise((r) => setTimeout(r, 300));
  // Sparse: one write every 100 ms (a user saving); stream: one every 15 ms (a build writing).
  // @parcel/watcher debounces (≥50 ms, up to 500 ms while events keep coming), which bounds both.
  for (const [label, gapMs, N] of [['sparse-100ms', 100, 100], ['stream-15ms', 15, 200]]) {
    const sent = [];
    for (let i = 0; i < N; i++) {
      const p = join(latDir, `${label}-${i}.txt`);
      sent.push([p, `lat/${label}-${i}.txt`, performance.now()]);
      writeFileSync(p, 'change');
      await new Promise((r) => setTimeout(r, gapMs));
    }
    await new Promise((r) => setTimeout(r, 1000));
    const icpyLat = [];
    const rawLat = [];
    let missed = 0;
    for (const [abs, rel, t] of sent) {
      if (seen.has(rel)) icpyLat.push(seen.get(rel) - t);
      else missed++;
      if (rawSeen.has(abs)) rawLat.push(rawSeen.get(abs) - t);
    }
    emit({ bench, figure: 'external-change-latency', pattern: label, target: 'icpy-ws-event', samples: icpyLat.length, missed, p50_ms: round(percentile(icpyLat, 50)), p99_ms: round(percentile(icpyLat, 99)), target_p99_ms: '<300' });
    emit({ bench, figure: 'external-change-latency', pattern: label, target: 'raw-parcel-watcher-in-process', samples: rawLat.length, p50_ms: round(percentile(rawLat, 50)), p99_ms: round(percentile(rawLat, 99)) });
  }
  await rawSub.unsubscribe();
  ws.terminate();
}

// ---------------------------------------------------------------- search: 100 MB vs rg
if (PARTS.includes('search')) {
  const dir = join(roots.icpy, 'corpus');
  mkdirSync(dir);
  const words = [];
  let seed = 42;
  // mulberry32: deterministic corpus across runs
  const rand = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = 0; i < 5000; i++) words.push(Array.from({ length: 3 + Math.floor(rand() * 7) }, () => String.fromCharCode(97 + Math.floor(rand() * 26))).join(''));
  const lines = [];
  for (let i = 0; i < 20000; i++) {
    const n = 6 + Math.floor(rand() * 10);
    const ws = Array.from({ length: n }, () => words[Math.floor(rand() * words.length)]);
    if (rand() < 0.0005) ws.splice(2, 0, 'Zebrafish');
    lines.push(ws.join(' '));
  }
  const block = Buffer.from(lines.join('\n') + '\n');
  let total = 0;
  for (let f = 0; total < 100 * 1024 * 1024; f++) {
    const rot = Math.floor(rand() * block.length);
    const nl = block.indexOf(10, rot) + 1;
    const buf = Buffer.concat([block.subarray(nl), block.subarray(0, nl)]);
    mkdirSync(join(dir, `d${f % 20}`), { recursive: true });
    writeFileSync(join(dir, `d${f % 20}`, `t${f}.txt`), buf);
    total += buf.length;
  }
  await new Promise((r) => setTimeout(r, 1500)); // let the watcher settle
  // The same command icpy runs for this search (same flags, same folder, same glob).
  const rgArgs = ['--json', '--ignore-case', '--no-require-git', '--glob', 'corpus/**', '--fixed-strings', '--', 'zebrafish', '.'];
  const rgOnce = () =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const p = spawn('rg', rgArgs, { cwd: roots.icpy, stdio: ['ignore', 'pipe', 'ignore'] });
      let matches = 0;
      let tail = '';
      p.stdout.on('data', (d) => {
        const s = tail + d.toString('latin1');
        const parts = s.split('\n');
        tail = parts.pop();
        for (const l of parts) if (l.startsWith('{"type":"match"')) matches++;
      });
      p.on('close', () => resolve({ ms: performance.now() - t0, matches }));
    });
  const ws = new WebSocket(`${icpy.url.replace(/^http/, 'ws')}/api/ws?token=${TOKEN}`, { maxPayload: 512 * 1024 * 1024 });
  await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
  let id = 0;
  const call = (method, params) =>
    new Promise((resolve, reject) => {
      const my = ++id;
      const on = (d) => {
        const m = JSON.parse(d.toString());
        if (m.id !== my) return;
        ws.off('message', on);
        if (m.error) reject(new Error(JSON.stringify(m.error)));
        else resolve(m.result);
      };
      ws.on('message', on);
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: my, method, params }));
    });
  const icpyOnce = async () => {
    const t0 = performance.now();
    const r = await call('files.search', { query: 'zebrafish', globs: ['corpus/**'], maxResults: 100000, pageSize: 10000 });
    return { ms: performance.now() - t0, matches: r.total, engine: r.engine };
  };
  await rgOnce();
  await icpyOnce();
  const rgT = [];
  const icT = [];
  let rgMatches = 0;
  let icMatches = 0;
  let engine;
  for (let i = 0; i < 5; i++) {
    const a = await rgOnce();
    const b = await icpyOnce();
    rgT.push(a.ms);
    icT.push(b.ms);
    rgMatches = a.matches;
    icMatches = b.matches;
    engine = b.engine;
  }
  emit({ bench, figure: 'search-100MB', target: 'rg-command', corpus_mb: round(total / 1048576), matches: rgMatches, median_ms: round(median(rgT)) });
  emit({ bench, figure: 'search-100MB', target: 'icpy-files.search-ws', engine, matches: icMatches, median_ms: round(median(icT)), ratio_vs_rg: round(median(icT) / median(rgT)), target_ratio: '<=1.5' });
  ws.terminate();
}

// ---------------------------------------------------------------- 1 GB upload, server memory
if (PARTS.includes('upload')) {
  const hwm = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${icpy.pid}/status`, 'utf8'))[1]) / 1024;
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${icpy.pid}/status`, 'utf8'))[1]) / 1024;
  const before = hwm();
  const rssBefore = rss();
  const GB = 1024 * 1024 * 1024;
  const chunk = Buffer.alloc(1024 * 1024, 98);
  let sent = 0;
  const src = new Readable({
    read() {
      if (sent >= GB) return this.push(null);
      sent += chunk.length;
      this.push(chunk);
    },
  });
  let rssMax = rssBefore;
  const sampler = setInterval(() => (rssMax = Math.max(rssMax, rss())), 25);
  const t0 = performance.now();
  const u = new URL(`${icpy.url}/api/files/upload-1g.bin`);
  const status = await new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'PUT', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/octet-stream', 'content-length': GB } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    src.pipe(req);
  });
  const secs = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const size = statSync(join(roots.icpy, 'upload-1g.bin')).size;
  emit({ bench, figure: 'upload-1GB', status, bytes_on_disk: size, seconds: round(secs), mb_s: round(1024 / secs), server_rss_before_mb: round(rssBefore), server_rss_max_during_upload_mb: round(rssMax), server_rss_growth_mb: round(rssMax - rssBefore), server_peak_rss_of_whole_run_mb: round(Math.max(before, hwm())) });
  rmSync(join(roots.icpy, 'upload-1g.bin'));
}

icpy.child.disconnect();
bare.child.disconnect();
alt?.child.disconnect();
// A profile is written when the server exits by itself (process.exit kills what is left).
if (PROFILE) await Promise.all([icpy.child, bare.child].map((c) => (c.exitCode === null ? Promise.race([new Promise((r) => c.once('exit', r)), new Promise((r) => setTimeout(r, 10_000))]) : undefined)));

// ---------------------------------------------------------------- watcher start on 100k files
if (PARTS.includes('watcher')) {
  const tree = join(base, 'tree100k');
  for (let d = 0; d < 1000; d++) {
    const dir = join(tree, `a${d % 10}`, `b${d}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 100; f++) writeFileSync(join(dir, `f${f}.txt`), '');
  }
  for (const mode of ['raw', 'icpy']) {
    const c = forkChild(join(here, 'lib/files-watch-start.mjs'), [mode, tree], { execArgv: ['--expose-gc'] });
    const r = await nextMessage(c, 'result', 120_000);
    c.disconnect();
    emit({ bench, figure: 'watcher-start-100k', target: mode === 'raw' ? 'raw-parcel-watcher' : 'icpy-FileWatcher', files: 100_000, ready_ms: round(r.readyMs), rss_added_mb: round(r.rssAddedMb), ...(mode === 'icpy' ? { target_ready_ms: '<3000' } : {}) });
  }
}
process.exit(0);
