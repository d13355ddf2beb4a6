#!/usr/bin/env node
// Real-install check (too slow for the test suite): `npm install -g .` into a temporary prefix
// must give an `icpy` command, and `npx icpy --version` in this checkout must answer without
// rebuilding or copying the project. Prints the timings. Usage: node scripts/check-install.mjs
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const prefix = mkdtempSync(join(tmpdir(), 'icpy-global-'));
const timed = (what, cmd, args, env = {}) => {
  const t0 = performance.now();
  const out = execFileSync(cmd, args, { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  console.log(`${what}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return out.trim();
};
try {
  const built = statSync(join(root, 'dist', 'app', 'serve.js')).mtimeMs;
  console.log(timed('npx icpy --version (1st)', 'npx', ['icpy', '--version']));
  console.log(timed('npx icpy --version (2nd)', 'npx', ['icpy', '--version']));
  if (statSync(join(root, 'dist', 'app', 'serve.js')).mtimeMs !== built) throw new Error('npx rebuilt the project');
  timed('npm install -g . (temp prefix)', 'npm', ['install', '-g', '.'], { npm_config_prefix: prefix });
  console.log(timed('<prefix>/bin/icpy --version', join(prefix, 'bin', 'icpy'), ['--version']));
  console.log('ok');
} finally {
  rmSync(prefix, { recursive: true, force: true });
}
