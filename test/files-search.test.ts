import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRipgrep } from '../src/services/files/index.js';
import { connect, startServer, type TestServer, type WsClient } from './helpers/server.js';

// Debian package `ripgrep`; without it the same assertions run against the built-in engine.
const ENGINE = findRipgrep() ? 'ripgrep' : 'builtin';

describe('files.search and files.find over WebSocket', () => {
  let s: TestServer;
  let c: WsClient;
  beforeAll(async () => {
    s = await startServer();
    c = await connect(s);
    mkdirSync(join(s.root, 'src/server'), { recursive: true });
    mkdirSync(join(s.root, 'build'), { recursive: true });
    writeFileSync(join(s.root, '.gitignore'), 'build/\n');
    writeFileSync(join(s.root, 'src/server/http-server.ts'), 'export const port = 8000;\n// TODO: héllo TODO\n');
    writeFileSync(join(s.root, 'src/main.py'), 'def main():\n    print("todo later")\n');
    writeFileSync(join(s.root, 'build/out.js'), 'TODO generated\n');
    writeFileSync(join(s.root, 'README.md'), 'Read me. TODO list\n');
    for (let i = 0; i < 30; i++) writeFileSync(join(s.root, `src/many${i}.txt`), 'needle\nneedle\n');
  });
  afterAll(async () => {
    await c.close();
    await s.close();
  });

  it(`finds content (${ENGINE}), skipping ignored files, with UTF-16 ranges`, async () => {
    const r = await c.call('files.search', { query: 'TODO', caseSensitive: true });
    expect(r.engine).toBe(ENGINE);
    const paths = r.results.map((m: any) => m.path).sort();
    expect(paths).toEqual(['README.md', 'src/server/http-server.ts']);
    const m = r.results.find((x: any) => x.path === 'src/server/http-server.ts');
    expect(m).toMatchObject({ line: 2, column: 3, text: '// TODO: héllo TODO' });
    expect(m.ranges).toEqual([[3, 7], [15, 19]]);
    // a line that is not UTF-8 (latin1 é = one byte) keeps one character per byte
    writeFileSync(join(s.root, 'latin1.txt'), Buffer.concat([Buffer.from('caf'), Buffer.from([0xe9]), Buffer.from(' LATIN1MARK\n')]));
    const l1 = await c.call('files.search', { query: 'LATIN1MARK', caseSensitive: true });
    expect(l1.results).toHaveLength(1);
    expect(l1.results[0]).toMatchObject({ path: 'latin1.txt', column: 5, ranges: [[5, 15]] });
    const smart = await c.call('files.search', { query: 'todo' });
    expect(smart.results.map((x: any) => x.path)).toContain('src/main.py');
    expect(smart.results.length).toBe(3);
    const withIgnored = await c.call('files.search', { query: 'TODO', caseSensitive: true, ignored: true });
    expect(withIgnored.results.map((x: any) => x.path)).toContain('build/out.js');
  });

  it('supports regex, globs, limits and pages', async () => {
    const re = await c.call('files.search', { query: 'def \\w+\\(', regex: true });
    expect(re.results).toHaveLength(1);
    const globbed = await c.call('files.search', { query: 'TODO', globs: ['*.md'] });
    expect(globbed.results.map((x: any) => x.path)).toEqual(['README.md']);
    const first = await c.call('files.search', { query: 'needle', pageSize: 25 });
    expect(first.total).toBe(60);
    expect(first.results).toHaveLength(25);
    const all = [...first.results];
    let cursor = first.nextCursor;
    while (cursor) {
      const p = await c.call('files.search', { cursor });
      all.push(...p.results);
      cursor = p.nextCursor;
    }
    expect(all).toHaveLength(60);
    expect(new Set(all.map((m: any) => `${m.path}:${m.line}`)).size).toBe(60);
    const limited = await c.call('files.search', { query: 'needle', maxResults: 10 });
    expect(limited).toMatchObject({ total: 10, limitHit: true });
    const bad = await c.call('files.search', { query: '(', regex: true }).catch((e) => e);
    expect(bad.data.code).toBe('INVALID_PARAMS');
  });

  it('finds files by fuzzy name, ranked', async () => {
    const r = await c.call('files.find', { query: 'httpsrv' });
    expect(r.results[0].path).toBe('src/server/http-server.ts');
    const main = await c.call('files.find', { query: 'main' });
    expect(main.results[0].path).toBe('src/main.py');
    const none = await c.call('files.find', { query: 'out.js' });
    expect(none.results.map((x: any) => x.path)).not.toContain('build/out.js');
  });
});
