#!/usr/bin/env node
// Lint rule for the layers (docs/architecture.md): imports point one way.
//   core/        imports only core/ (and no I/O modules of Node)
//   services/X/  imports core/ and its own folder services/X/
//   storage/     imports core/ and storage/
//   transports/X imports core/ and its own folder transports/X/
//   plugins/     imports core/ and plugins/
//   agents/      imports core/ and agents/ (agent frameworks and workflows, like a service)
//   app/         may import anything
// Exits 1 listing each offending import.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const IO_MODULES = ['fs', 'fs/promises', 'net', 'http', 'https', 'child_process', 'dgram', 'tls', 'worker_threads', 'cluster'];

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* walk(p);
    else if (p.endsWith('.ts')) yield p;
  }
}

/** The layer key of a src-relative path: 'core', 'services/files', 'transports/http', 'app', ... */
function layerOf(rel) {
  const [top, second] = rel.split(sep);
  if (top === 'services' || top === 'transports') return second && !/\.[jt]s$/.test(second) ? `${top}/${second}` : top;
  return top;
}

function allowed(from, to) {
  if (from === to) return true;
  const top = from.split('/')[0];
  if (top === 'app') return true;
  if (to === 'core') return top !== 'core';
  // shared helpers at the top of services/ or transports/ (e.g. services/index.ts) are open to their layer
  if (to === 'services' && top === 'services') return true;
  if (to === 'transports' && top === 'transports') return true;
  return false;
}

const importRe = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g;
const problems = [];
for (const file of walk(src)) {
  const rel = relative(src, file);
  const from = layerOf(rel);
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(importRe)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (from === 'core' && !rel.endsWith('.test.ts')) {
      const bare = spec.replace(/^node:/, '');
      if (IO_MODULES.includes(bare)) problems.push(`${rel}: core must not do I/O (imports '${spec}')`);
    }
    if (!spec.startsWith('.')) continue;
    const target = relative(src, resolve(dirname(file), spec));
    if (target.startsWith('..')) {
      if (!rel.endsWith('.test.ts')) problems.push(`${rel}: imports '${spec}' from outside src/`);
      continue;
    }
    const to = layerOf(target);
    if (!allowed(from, to)) problems.push(`${rel}: ${from} must not import ${to} ('${spec}')`);
  }
}
if (problems.length) {
  console.error(`Layer rule broken (${problems.length}):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('layers ok');
