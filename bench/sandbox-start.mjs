// Sandbox start overhead: the same trivial program spawned bare and under the bubblewrap sandbox
// exactly as exec.run {sandbox: true} builds it (dist/services/exec/sandbox.js: read-only /,
// private /tmp, masks, new net/pid/ipc/uts namespaces, --clearenv), alternating in one run so
// both see the same machine load. Only the spawn → exit time of the child is measured (no
// server): this is the cost the sandbox adds to a run. Target (issue 11): under 100 ms.
//
//   npm run build && node bench/sandbox-start.mjs
//   BENCH_ROUNDS=50 node bench/sandbox-start.mjs
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { findBubblewrap, sandboxCommand, sandboxHidePaths } from '../dist/services/exec/sandbox.js';
import { emit, median, percentile, round } from './lib/stats.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const bwrap = findBubblewrap();
if (!bwrap) {
  emit({ bench: 'sandbox-start', skipped: 'bubblewrap is not installed (apt-get install -y bubblewrap)' });
  process.exit(0);
}

function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return realpathSync(join(dir, cmd)); // the real interpreter, not a pyenv shim
    } catch {
      /* next */
    }
  }
  return undefined;
}

const root = realpathSync(mkdtempSync(join(tmpdir(), 'icpy-bench-sbx-')));
mkdirSync(join(root, '.icpy'));
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8', TERM: 'dumb' };
const hide = sandboxHidePaths({ root, runtimeDir: join(tmpdir(), 'icpy-0'), env: process.env });

function time(file, args, childEnv) {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const c = spawn(file, args, { cwd: root, env: childEnv, stdio: 'ignore', detached: true });
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${file} exited ${code}`))));
  });
}

const programs = [
  ['true', ['/bin/true']],
  ['python', [which('python3'), '-c', 'print(1)']],
  ['javascript', [which('node'), '-e', 'console.log(1)']],
  ['bash', [which('bash'), '-c', 'echo 1']],
].filter(([, cmd]) => cmd[0]);

try {
  for (const [name, cmd] of programs) {
    const bare = [];
    const boxed = [];
    const build = [];
    for (let i = 0; i < ROUNDS + 2; i++) {
      const t = performance.now();
      const inv = sandboxCommand({ root, cwd: root, command: cmd, env, hide }, bwrap);
      const b = performance.now() - t;
      const runBare = () => time(cmd[0], cmd.slice(1), env);
      const runBoxed = () => time(inv.file, inv.args, inv.env);
      // alternate which goes first, so a load spike does not always land on one side
      let bareMs, boxedMs;
      if (i % 2) {
        bareMs = await runBare();
        boxedMs = await runBoxed();
      } else {
        boxedMs = await runBoxed();
        bareMs = await runBare();
      }
      if (i < 2) continue; // warm-up
      bare.push(bareMs);
      boxed.push(boxedMs);
      build.push(b);
    }
    emit({
      bench: 'sandbox-start',
      program: name,
      rounds: ROUNDS,
      bare_p50_ms: round(median(bare)),
      sandboxed_p50_ms: round(median(boxed)),
      overhead_p50_ms: round(median(boxed) - median(bare)),
      bare_p90_ms: round(percentile(bare, 90)),
      sandboxed_p90_ms: round(percentile(boxed, 90)),
      build_args_p50_ms: round(median(build), 3),
      target_overhead_ms: 100,
    });
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
