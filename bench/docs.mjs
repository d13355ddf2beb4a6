// Real-time documents (issue 10): icpy's Yjs rooms (WS /api/yjs/{path}) against Hocuspocus
// (@hocuspocus/server@3, the peer a user would pick) and a bare y-protocols relay (the raw
// baseline), side by side in the same run. Run `npm run build` first: icpy runs from dist/.
//
// Processes (nothing shares a process with a server under test):
//   - 3 servers, one process each (lib/docs-server.mjs icpy|hocuspocus|relay), --expose-gc; each
//     loads a room's text from its own folder (icpy: the workspace file; the others read the
//     same file in their load hook), so every server pays for a file read on a cold open
//   - 3 client processes (lib/docs-clients.mjs): A holds each document's typist and half the
//     other clients, B the other half, C the fresh clients of the large sync and memory phases
//   - this process: the coordinator
// Clients are unmodified providers: y-websocket WebsocketProvider for icpy and the relay,
// HocuspocusProvider for Hocuspocus; text in ydoc.getText('content').
//
// Figures, each for all three servers, then icpy/hocuspocus ratios and the targets:
//   edit     one typist inserts '#<n>;' at random places, one every DOCS_EDIT_INTERVAL_MS (15),
//            on one ~10 KB document with 2 and with 10 clients; latency = arrival in each other
//            client's Y.Text observer − send time; DOCS_ROUNDS (4) rounds of DOCS_EDITS (100)
//            edits, servers interleaved, order rotated each round, after a 50-edit warm-up
//   sync     a fresh client of a 2 M-character document: connect → synced with the full text
//            (checked), cold (the first client: the server loads the file) and warm (a second
//            client while the first stays); DOCS_SYNC_ROUNDS (6) times, a new file each time
//   during   while those syncs run, a typist on a second, small document (one edit every 10 ms,
//            one remote client): p99 latency of the edits sent while a large sync was under way
//   memory   server RSS per open document: open DOCS_MEM_DOCS (50) documents of ~10 KB (one
//            client each, so a WebSocket's cost is included), (RSS after − before) / N after a
//            forced GC and a settle; measured first, on fresh servers
//
//   node bench/docs.mjs
//   DOCS_BENCH_SERVERS=hocuspocus,relay node bench/docs.mjs     # without icpy
//   BENCH_PROFILE=/tmp/prof node bench/docs.mjs                  # --cpu-prof of each server
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ask, cpuMs, forkChild, machineCpuMs, nextMessage, rssBytes, sleep, stopChild } from './lib/procs.mjs';
import { emit, median, nowMs, percentile, round, stealMeter } from './lib/stats.mjs';
import { sourceText } from './lib/docs-text.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const KINDS = (process.env.DOCS_BENCH_SERVERS ?? 'icpy,hocuspocus,relay').split(',');
const CLIENT_COUNTS = (process.env.DOCS_CLIENTS ?? '2,10').split(',').map(Number);
const ROUNDS = Number(process.env.DOCS_ROUNDS ?? 4);
const EDITS = Number(process.env.DOCS_EDITS ?? 100);
const EDIT_INTERVAL_MS = Number(process.env.DOCS_EDIT_INTERVAL_MS ?? 15);
const SYNC_ROUNDS = Number(process.env.DOCS_SYNC_ROUNDS ?? 6);
const BIG_CHARS = Number(process.env.DOCS_BIG_CHARS ?? 2_000_000);
const SMALL_INTERVAL_MS = 10;
const MEM_DOCS = Number(process.env.DOCS_MEM_DOCS ?? 50);
const MEM_SETTLE_MS = Number(process.env.DOCS_MEM_SETTLE_MS ?? 1500);
const DOC_CHARS = 10_000;
const PROFILE = process.env.BENCH_PROFILE;
const TOKEN = 'bench-' + Math.random().toString(36).slice(2);
const TARGETS = { edit_p99_ms_10: 20, edit_p99_vs_hocuspocus_10: 1.2, sync_cold_ms: 500, during_p99_ms: 100 };

const tmp = mkdtempSync(join(tmpdir(), 'icpy-bench-docs-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

// ---- files (one folder per server: icpy saves into its own) ----------------------------------

const files = new Map(); // name -> text
files.set('small.txt', sourceText(DOC_CHARS, 11));
for (const n of CLIENT_COUNTS) files.set(`edit-${n}.txt`, sourceText(DOC_CHARS, 100 + n));
for (let i = 0; i < MEM_DOCS; i++) files.set(`mem/doc-${i}.txt`, sourceText(DOC_CHARS, 1000 + i));
for (let i = 0; i < 5; i++) files.set(`mem/warm-${i}.txt`, sourceText(DOC_CHARS, 2000 + i));
const bigSeed = (r) => 3000 + r;
for (let r = 0; r < SYNC_ROUNDS; r++) files.set(`big/big-${r}.txt`, sourceText(BIG_CHARS, bigSeed(r)));
const roots = {};
for (const kind of KINDS) {
  roots[kind] = join(tmp, kind);
  mkdirSync(join(roots[kind], 'mem'), { recursive: true });
  mkdirSync(join(roots[kind], 'big'), { recursive: true });
  for (const [name, text] of files) writeFileSync(join(roots[kind], name), text);
}
files.clear();

// ---- processes -----------------------------------------------------------------------------

async function startServer(kind) {
  const execArgv = ['--expose-gc', ...(PROFILE ? ['--cpu-prof', '--cpu-prof-dir', PROFILE, '--cpu-prof-name', `docs-${kind}-${process.pid}.cpuprofile`] : [])];
  const child = forkChild(join(here, 'lib/docs-server.mjs'), [kind, roots[kind], TOKEN], {
    execArgv,
    env: { ...process.env, ICPY_RUNTIME_DIR: join(tmp, 'runtime') },
  });
  child.stdout.resume();
  const { url, pid } = await nextMessage(child, 'ready', 30_000);
  return { kind, child, pid, info: { kind, url, token: TOKEN } };
}

async function startClients(name) {
  const child = forkChild(join(here, 'lib/docs-clients.mjs'));
  child.stdout.resume();
  await nextMessage(child, 'ready', 20_000);
  child.label = name;
  return child;
}

const servers = {};
for (const kind of KINDS) servers[kind] = await startServer(kind);
const [A, B, C] = await Promise.all(['A', 'B', 'C'].map(startClients));

const open = (proc, server, room, ids, expect) => ask(proc, { cmd: 'open', ids, server: server.info, room, expect }, 120_000);
const close = (proc, ids) => ask(proc, { cmd: 'close', ids }, 30_000);

/** Latency samples (ms) of one typing run: arrivals of each observer against the send times. */
function latencies(first, sent, seenLists) {
  const out = [];
  let lost = 0;
  for (const pairs of seenLists) {
    const at = new Map(pairs);
    for (let i = 0; i < sent.length; i++) {
      const t = at.get(first + i);
      if (t === undefined) lost++;
      else out.push({ sentAt: sent[i], ms: t - sent[i] });
    }
  }
  return { samples: out, lost };
}

function summary(ms) {
  const s = Float64Array.from(ms).sort();
  return { samples: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] };
}

const rotate = (xs, r) => xs.map((_, i) => xs[(i + r) % xs.length]);

/**
 * CPU the rest of the machine used while a phase ran (100 = one core): machine busy time minus
 * this bench's own processes. On the shared 2-core VM other work, not steal, is what usually
 * moves a p99; a phase with `others_cpu_pct` far above 0 is not a clean measurement.
 */
function othersMeter() {
  const pids = [...Object.values(servers).map((s) => s.pid), A.pid, B.pid, C.pid];
  const ours = () => pids.reduce((a, pid) => a + cpuMs(pid), 0) + (process.cpuUsage().user + process.cpuUsage().system) / 1000;
  const m0 = machineCpuMs();
  const o0 = ours();
  const t0 = performance.now();
  return () => round((100 * (machineCpuMs().busy - m0.busy - (ours() - o0))) / (performance.now() - t0), 0);
}
let marker = 0; // edit markers are unique across the whole run

// ---- memory per open document (fresh servers) ---------------------------------------------

async function measureMem(server) {
  await ask(server.child, { cmd: 'mem' });
  await sleep(MEM_SETTLE_MS);
  const mem = await ask(server.child, { cmd: 'mem' });
  return { rss: rssBytes(server.pid), heap: mem.heapUsed + mem.external + mem.arrayBuffers };
}

const results = new Map(); // 'figure|clients' -> { figure, clients, byKind: {kind: value} }
function put(figure, kind, value, clients) {
  const key = `${figure}|${clients ?? ''}`;
  if (!results.has(key)) results.set(key, { figure, clients, byKind: {} });
  results.get(key).byKind[kind] = value;
}

for (const kind of KINDS) {
  const server = servers[kind];
  const warm = Array.from({ length: 5 }, (_, i) => `${kind}-memwarm-${i}`);
  await open(C, server, warm.map((_, i) => `mem/warm-${i}.txt`), warm);
  await close(C, warm);
  const before = await measureMem(server);
  const ids = Array.from({ length: MEM_DOCS }, (_, i) => `${kind}-mem-${i}`);
  await open(C, server, ids.map((_, i) => `mem/doc-${i}.txt`), ids);
  const after = await measureMem(server);
  await close(C, ids);
  const rssKb = (after.rss - before.rss) / MEM_DOCS / 1024;
  const heapKb = (after.heap - before.heap) / MEM_DOCS / 1024;
  put('rss_per_doc', kind, rssKb);
  emit({ bench: 'docs', server: kind, figure: 'rss_per_doc', docs: MEM_DOCS, doc_chars: DOC_CHARS, value: round(rssKb, 1), unit: 'KB', heap_kb_per_doc: round(heapKb, 1) });
}

// ---- edit-to-remote-client latency --------------------------------------------------------

/** One typing run on a connected group: `count` edits at `intervalMs`; returns samples. */
async function typeRun(group, count, intervalMs) {
  const first = marker;
  marker += count;
  await Promise.all([ask(A, { cmd: 'watch', ids: group.observersA }), ask(B, { cmd: 'watch', ids: group.observersB })]);
  const { sent } = await ask(A, { cmd: 'type', id: group.writer, count, intervalMs, first }, 120_000);
  const [a, b] = await Promise.all([
    ask(A, { cmd: 'collect', ids: group.observersA, count }, 30_000),
    ask(B, { cmd: 'collect', ids: group.observersB, count }, 30_000),
  ]);
  return latencies(first, sent, [...a.seen, ...b.seen]);
}

for (const n of CLIENT_COUNTS) {
  const groups = {};
  for (const kind of KINDS) {
    const ids = Array.from({ length: n }, (_, i) => `${kind}-edit${n}-${i}`);
    const g = { writer: ids[0], observersA: ids.filter((_, i) => i > 0 && i % 2 === 0), observersB: ids.filter((_, i) => i % 2 === 1) };
    await open(A, servers[kind], `edit-${n}.txt`, [g.writer, ...g.observersA]);
    await open(B, servers[kind], `edit-${n}.txt`, g.observersB);
    groups[kind] = g;
    await typeRun(g, 50, EDIT_INTERVAL_MS); // warm-up, not recorded
  }
  const samples = Object.fromEntries(KINDS.map((k) => [k, []]));
  const lost = Object.fromEntries(KINDS.map((k) => [k, 0]));
  const cpu = Object.fromEntries(KINDS.map((k) => [k, 0]));
  const steal = stealMeter();
  const others = othersMeter();
  for (let r = 0; r < ROUNDS; r++) {
    for (const kind of rotate(KINDS, r)) {
      const c0 = cpuMs(servers[kind].pid);
      const run = await typeRun(groups[kind], EDITS, EDIT_INTERVAL_MS);
      cpu[kind] += cpuMs(servers[kind].pid) - c0;
      for (const s of run.samples) samples[kind].push(s.ms);
      lost[kind] += run.lost;
    }
  }
  const stealPct = steal();
  const othersPct = others();
  for (const kind of KINDS) {
    const s = summary(samples[kind]);
    put('edit_p50', kind, s.p50, n);
    put('edit_p99', kind, s.p99, n);
    const common = { bench: 'docs', server: kind, clients: n, edits: ROUNDS * EDITS, interval_ms: EDIT_INTERVAL_MS, unit: 'ms' };
    emit({ ...common, figure: 'edit_p50', value: round(s.p50, 3) });
    emit({
      ...common,
      figure: 'edit_p99',
      value: round(s.p99, 3),
      max_ms: round(s.max, 3),
      samples: s.samples,
      lost: lost[kind],
      server_cpu_us_per_edit: round((cpu[kind] * 1000) / (ROUNDS * EDITS), 1),
      steal_pct: stealPct,
      others_cpu_pct: othersPct,
    });
  }
  for (const kind of KINDS) {
    const g = groups[kind];
    await Promise.all([close(A, [g.writer, ...g.observersA]), close(B, g.observersB)]);
  }
}

// ---- 2 M-character initial sync, and small-document edits during it ------------------------

const cold = Object.fromEntries(KINDS.map((k) => [k, []]));
const warmSync = Object.fromEntries(KINDS.map((k) => [k, []]));
const during = Object.fromEntries(KINDS.map((k) => [k, []]));
const duringLost = Object.fromEntries(KINDS.map((k) => [k, 0]));
const small = {};
for (const kind of KINDS) {
  small[kind] = { writer: `${kind}-small-w`, observer: `${kind}-small-o` };
  await open(A, servers[kind], 'small.txt', [small[kind].writer]);
  await open(B, servers[kind], 'small.txt', [small[kind].observer]);
}
const syncSteal = stealMeter();
const syncOthers = othersMeter();
for (let r = 0; r < SYNC_ROUNDS; r++) {
  for (const kind of rotate(KINDS, r)) {
    const server = servers[kind];
    const first = marker;
    marker += 1_000_000;
    await ask(B, { cmd: 'watch', ids: [small[kind].observer] });
    await ask(A, { cmd: 'type', id: small[kind].writer, count: 0, intervalMs: SMALL_INTERVAL_MS, first });
    await sleep(100);
    const windows = [];
    const expect = { chars: BIG_CHARS, seed: bigSeed(r) };
    const room = `big/big-${r}.txt`;
    let t = nowMs();
    cold[kind].push((await open(C, server, room, [`${kind}-big-${r}-a`], expect)).ms[0]);
    windows.push([t, nowMs()]);
    t = nowMs();
    warmSync[kind].push((await open(C, server, room, [`${kind}-big-${r}-b`], expect)).ms[0]);
    windows.push([t, nowMs()]);
    await close(C, [`${kind}-big-${r}-a`, `${kind}-big-${r}-b`]);
    await sleep(100);
    const { sent } = await ask(A, { cmd: 'stop' });
    const { seen } = await ask(B, { cmd: 'collect', ids: [small[kind].observer], count: sent.length }, 30_000);
    const run = latencies(first, sent, seen);
    duringLost[kind] += run.lost;
    // Edits sent while a large sync was under way (or one interval before it began).
    for (const s of run.samples) if (windows.some(([a, b]) => s.sentAt >= a - SMALL_INTERVAL_MS && s.sentAt <= b)) during[kind].push(s.ms);
  }
}
const syncStealPct = syncSteal();
const syncOthersPct = syncOthers();
for (const kind of KINDS) {
  put('sync_2m_cold', kind, median(cold[kind]));
  put('sync_2m_warm', kind, median(warmSync[kind]));
  const common = { bench: 'docs', server: kind, doc_chars: BIG_CHARS, rounds: SYNC_ROUNDS, unit: 'ms' };
  emit({ ...common, figure: 'sync_2m_cold', value: round(median(cold[kind]), 1), max_ms: round(Math.max(...cold[kind]), 1), rounds_ms: cold[kind].map((x) => round(x, 1)) });
  emit({ ...common, figure: 'sync_2m_warm', value: round(median(warmSync[kind]), 1), max_ms: round(Math.max(...warmSync[kind]), 1), rounds_ms: warmSync[kind].map((x) => round(x, 1)) });
  const s = summary(during[kind]);
  put('small_edit_p99_during_sync', kind, s.p99);
  emit({
    bench: 'docs',
    server: kind,
    figure: 'small_edit_p99_during_sync',
    value: round(s.p99, 3),
    unit: 'ms',
    p50_ms: round(s.p50, 3),
    max_ms: round(s.max, 3),
    samples: s.samples,
    lost: duringLost[kind],
    interval_ms: SMALL_INTERVAL_MS,
    steal_pct: syncStealPct,
    others_cpu_pct: syncOthersPct,
  });
}
for (const kind of KINDS) await Promise.all([close(A, [small[kind].writer]), close(B, [small[kind].observer])]);

// ---- ratios and targets --------------------------------------------------------------------

for (const { figure, clients, byKind: value } of results.values()) {
  if (value.icpy === undefined) continue;
  const line = { bench: 'docs', figure, clients, ratio: 'icpy/hocuspocus' };
  if (value.hocuspocus !== undefined) {
    line.value = round(value.icpy / value.hocuspocus, 3);
    // Every figure is "lower is better"; the issue asks icpy to be at least even with Hocuspocus.
    line.even_with_hocuspocus = value.icpy <= value.hocuspocus;
  }
  if (value.relay !== undefined) line.vs_relay = round(value.icpy / value.relay, 3);
  if (figure === 'edit_p99' && clients === 10) {
    line.icpy_ms = round(value.icpy, 3);
    line.target_max_ms = TARGETS.edit_p99_ms_10;
    line.target_max_ratio = TARGETS.edit_p99_vs_hocuspocus_10;
    line.ok = value.icpy < TARGETS.edit_p99_ms_10 && (line.value === undefined || line.value <= TARGETS.edit_p99_vs_hocuspocus_10);
  } else if (figure === 'sync_2m_cold') {
    line.icpy_ms = round(value.icpy, 1);
    line.target_max_ms = TARGETS.sync_cold_ms;
    line.ok = value.icpy < TARGETS.sync_cold_ms;
  } else if (figure === 'small_edit_p99_during_sync') {
    line.icpy_ms = round(value.icpy, 3);
    line.target_max_ms = TARGETS.during_p99_ms;
    line.ok = value.icpy < TARGETS.during_p99_ms;
  } else if (line.value === undefined) continue;
  emit(line);
}

await Promise.all([A, B, C, ...Object.values(servers).map((s) => s.child)].map((c) => stopChild(c)));
