#!/usr/bin/env node
// `npx icpy` in this checkout must run this checkout's bin/icpy.js at once. npm links the bins of
// dependencies into node_modules/.bin but never the project's own, and when package.json declares
// a `bin` that matches, npm 11's exec instead re-installs the whole project into its npx cache
// (rebuilding the native addons, minutes). So package.json declares no `bin`, and this script
// (run from `prepare`, i.e. after `npm install` / `npm ci`) links node_modules/.bin/icpy, which
// `npx icpy` then runs directly.
import { chmodSync, lstatSync, mkdirSync, symlinkSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const binDir = join(root, 'node_modules', '.bin');
const link = join(binDir, 'icpy');
mkdirSync(binDir, { recursive: true });
try {
  lstatSync(link);
  unlinkSync(link);
} catch {
  // not there yet
}
symlinkSync(join('..', '..', 'bin', 'icpy.js'), link);
chmodSync(join(root, 'bin', 'icpy.js'), 0o755);
