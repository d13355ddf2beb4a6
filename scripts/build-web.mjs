#!/usr/bin/env node
// Builds the built-in web workspace (web/) into dist/web/: app.js (+ app.js.map) bundled and
// minified by esbuild, app.css (web/src/app.css plus any CSS the TS imports, e.g. xterm's),
// index.html. Runs in `npm run build` after tsc, so `prepare` on `npm install` builds it with
// nothing downloaded. Prints one line with the bundle's gzip size (target < 1 MB).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// `--out DIR` builds elsewhere (the build test does, so it never races a server serving dist/web).
const outArg = process.argv.indexOf('--out');
const out = outArg > 0 ? resolve(process.argv[outArg + 1]) : join(root, 'dist', 'web');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const common = {
  absWorkingDir: root, bundle: true, minify: true, write: false, outdir: out,
  logLevel: 'warning', legalComments: 'none', target: ['es2022'],
};
// Two builds, outputs written here: the TS bundle (its imported CSS comes out as app.css) and the
// app's own stylesheet, concatenated after it so the app's rules win.
const jsBuild = await build({ ...common, entryPoints: { app: 'web/src/main.ts' }, format: 'esm', platform: 'browser', sourcemap: 'linked' });
const cssBuild = await build({ ...common, entryPoints: { 'app-own': 'web/src/app.css' } });

let css = '';
let js = Buffer.alloc(0);
for (const f of jsBuild.outputFiles) {
  const name = basename(f.path);
  if (name === 'app.css') css += f.text;
  else if (name === 'app.css.map') continue;
  else {
    writeFileSync(join(out, name), f.contents);
    if (name === 'app.js') js = Buffer.from(f.contents);
  }
}
for (const f of cssBuild.outputFiles) css += f.text;
writeFileSync(join(out, 'app.css'), css);
copyFileSync(join(root, 'web', 'index.html'), join(out, 'index.html'));

const gzJs = gzipSync(js, { level: 9 }).length;
const gzCss = gzipSync(Buffer.from(css), { level: 9 }).length;
console.log(`web: ${outArg > 0 ? out : 'dist/web'}/app.js ${kib(js.length)} (gzip ${kib(gzJs)}), app.css gzip ${kib(gzCss)}, total gzip ${kib(gzJs + gzCss)}`);

function kib(n) { return `${(n / 1024).toFixed(1)} KiB`; }
