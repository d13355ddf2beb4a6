// The built-in web workspace's build (scripts/build-web.mjs): what `npm run build` writes to
// dist/web, built here into a temporary folder so it never races a server serving dist/web.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
let out: string;
let log: string;

beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'icpy-web-'));
  log = execFileSync(process.execPath, [join(root, 'scripts', 'build-web.mjs'), '--out', out], { cwd: root, encoding: 'utf8' });
}, 60_000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('web build', () => {
  it('writes index.html, app.js (+ map) and app.css', () => {
    for (const f of ['index.html', 'app.js', 'app.js.map', 'app.css']) expect(existsSync(join(out, f)), f).toBe(true);
    expect(readFileSync(join(out, 'app.js'), 'utf8')).toMatch(/\/\/# sourceMappingURL=app\.js\.map\s*$/);
  });

  it('index.html references the assets under /assets/ and holds no secret', () => {
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    expect(html).toContain('<script type="module" src="/assets/app.js"></script>');
    expect(html).toContain('<link rel="stylesheet" href="/assets/app.css">');
    expect(html).not.toMatch(/token=[^<"]|Bearer/);
    // No inline script: the app's CSP is script-src 'self'.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  });

  it('the bundle is under 1 MB gzip and the build prints its size', () => {
    const js = gzipSync(readFileSync(join(out, 'app.js'))).length;
    const css = gzipSync(readFileSync(join(out, 'app.css'))).length;
    expect(js + css).toBeLessThan(1024 * 1024);
    expect(log).toMatch(/^web: .*app\.js .* total gzip [\d.]+ KiB$/m);
  });

  it('bundles the editor, the Yjs binding and the shell (the app, not a stub)', () => {
    const js = readFileSync(join(out, 'app.js'), 'utf8');
    for (const s of ['/api/ws', '/api/yjs', 'kind=browser', 'docs.save', 'files.find', 'files.search', 'files.move', 'events.subscribe', 'cm-editor']) {
      expect(js, s).toContain(s);
    }
  });

  it('npm run build runs it after tsc, and npm run lint typechecks web/', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(pkg.scripts.build).toMatch(/tsc -p tsconfig\.build\.json && node scripts\/build-web\.mjs/);
    expect(pkg.scripts.lint).toContain('tsc -p web/tsconfig.json --noEmit');
    expect(pkg.files).toContain('dist');
  });
});
