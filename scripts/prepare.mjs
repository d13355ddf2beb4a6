#!/usr/bin/env node
// `prepare` (after `npm install` / `npm ci` / `npm link` / `npm install -g .`): build dist/ and
// link node_modules/.bin/icpy. Skipped under `npx` (npm_command=exec): npm 11 "installs" a local
// package whose `bin` matches the command into its npx cache (a symlink back to this checkout)
// and runs its `prepare` there, which would rebuild on the first `npx icpy` (~20 s) for nothing.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
if (process.env.npm_command === 'exec' && existsSync(join(root, 'dist', 'app', 'serve.js'))) process.exit(0);
const npm = process.env.npm_execpath;
if (npm) execFileSync(process.execPath, [npm, 'run', 'build'], { cwd: root, stdio: 'inherit' });
else execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
await import('./link-bin.mjs');
