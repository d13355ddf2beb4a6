// Runs every benchmark in bench/ (any *.mjs but this file, and any *.ts via `npx tsx`), one
// after another, forwarding their JSON lines to stdout and their diagnostics to stderr.
// Files are discovered, not listed: adding bench/<name>.mjs or .ts is enough.
//
//   npm run build && npm run bench          # everything
//   node bench/run-all.mjs broker ws-        # only files whose name contains one of the words
//
// Exits non-zero if any benchmark failed (the others still run). A bench that overruns
// BENCH_TIMEOUT_MS (default 5 minutes) is killed with its process group.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const here = dirname(fileURLToPath(import.meta.url));
const self = basename(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_MS ?? 300_000);

const files = readdirSync(here, { withFileTypes: true })
  .filter((e) => e.isFile() && e.name !== self && (e.name.endsWith('.mjs') || (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))))
  .map((e) => e.name)
  .filter((name) => !filters.length || filters.some((f) => name.includes(f)))
  .sort();

let current;
const stopCurrent = () => {
  // Each bench runs in its own process group, so its own children go with it.
  if (current && current.exitCode === null) {
    try {
      process.kill(-current.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
};
process.on('exit', stopCurrent);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    stopCurrent();
    process.exit(130);
  });
}

function run(name) {
  const path = join(here, name);
  const [cmd, args] = name.endsWith('.ts') ? ['npx', ['--no-install', 'tsx', path]] : [process.execPath, [path]];
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(cmd, args, { cwd: join(here, '..'), stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    current = child;
    let lines = 0;
    createInterface({ input: child.stdout }).on('line', (line) => {
      const text = line.trim();
      if (!text) return;
      // Forward JSON figures as they are; anything else goes to stderr so stdout stays JSON lines.
      try {
        JSON.parse(text);
        lines++;
        process.stdout.write(text + '\n');
      } catch {
        process.stderr.write(`[${name}] ${line}\n`);
      }
    });
    const timer = setTimeout(() => {
      process.stderr.write(`[${name}] timed out after ${TIMEOUT_MS} ms; killing it\n`);
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      process.stderr.write(`[${name}] failed to start: ${err.message}\n`);
      resolve(false);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      current = undefined;
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      const ok = code === 0;
      process.stderr.write(`[${name}] ${ok ? 'done' : `FAILED (${code ?? signal})`} in ${secs} s, ${lines} figure(s)\n`);
      resolve(ok);
    });
  });
}

let failed = 0;
for (const name of files) if (!(await run(name))) failed++;
if (!files.length) process.stderr.write('bench/run-all: no benchmark matched\n');
process.exitCode = failed ? 1 : 0;
