// Wall time of one-shot `icpy` commands, the way a shell or an agent runs them: a fresh
// `node bin/icpy.js cat small.txt` process that finds the server from its runtime file (run
// from inside the served folder), reads the file over HTTP JSON-RPC and prints it. Baselines
// in the same run: plain `cat small.txt` (the floor for "print a file") and `node -e 0` (Node's
// own startup, which no Node CLI can beat). Rounds alternate the order of the three commands.
// Target: icpy cat under 200 ms on this machine.
//
//   npm run build && node bench/cli.mjs
//   BENCH_RUNS=50 node bench/cli.mjs
//   (same figure with hyperfine: cd DIR && hyperfine -N 'node …/bin/icpy.js cat small.txt' 'cat small.txt')
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { emit, median, percentile, round } from './lib/stats.mjs';
import { forkChild, nextMessage, stopChild } from './lib/procs.mjs';

/** CPU time (ms) of this process's waited-for children so far: cutime + cstime of /proc/self/stat. */
function childrenCpuMs() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / 100;
}

const here = dirname(fileURLToPath(import.meta.url));
const BIN = join(here, '..', 'bin', 'icpy.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const WARMUP = 3;

const root = mkdtempSync(join(tmpdir(), 'icpy-bench-cli-'));
const runtimeDir = mkdtempSync(join(tmpdir(), 'icpy-bench-rt-'));
writeFileSync(join(root, 'small.txt'), 'hello from a small file\n'.repeat(10));
const env = { ...process.env, ICPY_RUNTIME_DIR: runtimeDir, ICPY_LOG_LEVEL: 'silent' };
for (const k of ['ICPY_URL', 'ICPY_TOKEN', 'ICPY_AGENT']) delete env[k];

const server = forkChild(join(here, 'lib', 'icpy-server.mjs'), [root, '--port', '0', '--log-level', 'silent'], { env });
try {
  await nextMessage(server, 'ready');
  if (!readdirSync(runtimeDir).some((n) => n.startsWith('server-'))) throw new Error('the server wrote no runtime file');

  const cases = {
    'icpy cat': [process.execPath, [BIN, 'cat', 'small.txt']],
    cat: ['cat', ['small.txt']],
    'node -e 0': [process.execPath, ['-e', '0']],
  };
  const expected = 'hello from a small file\n'.repeat(10);
  const cpu = Object.fromEntries(Object.keys(cases).map((n) => [n, 0]));
  const run = (name) => {
    const [cmd, args] = cases[name];
    const c0 = childrenCpuMs();
    const t0 = performance.now();
    const r = spawnSync(cmd, args, { cwd: root, env, encoding: 'utf8' });
    const ms = performance.now() - t0;
    cpu[name] += childrenCpuMs() - c0;
    if (r.status !== 0 || (name !== 'node -e 0' && r.stdout !== expected)) throw new Error(`${name} failed (exit ${r.status}): ${r.stderr || r.stdout}`);
    return ms;
  };
  const names = Object.keys(cases);
  for (let i = 0; i < WARMUP; i++) for (const n of names) run(n);
  for (const n of names) cpu[n] = 0;
  const times = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i < RUNS; i++) {
    const order = i % 2 ? [...names].reverse() : names;
    for (const n of order) times[n].push(run(n));
  }
  const catMedian = median(times.cat);
  for (const n of names) {
    const xs = times[n];
    emit({
      bench: 'cli',
      case: n,
      runs: RUNS,
      median_ms: round(median(xs)),
      p95_ms: round(percentile(xs, 95)),
      min_ms: round(Math.min(...xs)),
      mean_ms: round(xs.reduce((a, b) => a + b, 0) / xs.length),
      ratio_to_cat: round(median(xs) / catMedian, 1),
      // CPU (user+sys) per run, summed over the waited-for children: steadier than wall time
      // when other work shares the machine. Linux tick resolution (10 ms), averaged over runs.
      cpu_ms: round(cpu[n] / RUNS, 1),
      ...(n === 'icpy cat' ? { target_ms: 200, within_target: median(xs) < 200 } : {}),
    });
  }
} finally {
  await stopChild(server);
  rmSync(root, { recursive: true, force: true });
  rmSync(runtimeDir, { recursive: true, force: true });
}
