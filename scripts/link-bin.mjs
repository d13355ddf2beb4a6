#!/usr/bin/env node
// Links node_modules/.bin/icpy → bin/icpy.js in this checkout (run from scripts/prepare.mjs).
// npm links the bins of dependencies into node_modules/.bin but never the project's own; with
// this link `npx --no-install icpy` and tools that look in node_modules/.bin find the command.
// (package.json does declare `bin`, for `npm install -g` / `npm link`; see prepare.mjs for how
// npm 11's `npx` treats a local package whose bin matches.)
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
chmodSync(join(root, 'bin', 'path', 'icpy'), 0o755);
