import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileSearch, fuzzyScore } from './file-search.js';
import { GitignoreCache } from './gitignore.js';

describe('FileSearch built-in engine (no rg)', () => {
  let root: string;
  let search: FileSearch;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'icpy-search-'));
    mkdirSync(join(root, 'src'));
    mkdirSync(join(root, 'dist'));
    writeFileSync(join(root, '.gitignore'), 'dist/\n');
    writeFileSync(join(root, 'src/a.ts'), 'const x = 1; // TODO\nlet héllo = "TODO";\n');
    writeFileSync(join(root, 'src/b.js'), 'todo();\n');
    writeFileSync(join(root, 'dist/c.js'), 'TODO\n');
    writeFileSync(join(root, 'bin.dat'), Buffer.from([0, 84, 79, 68, 79]));
    search = new FileSearch(root, new GitignoreCache(root), null);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('matches like ripgrep: smart case, gitignore, binaries skipped, globs', async () => {
    const r = await search.content({ query: 'TODO' });
    expect(r.engine).toBe('builtin');
    expect(r.results.map((m) => `${m.path}:${m.line}:${m.column}`).sort()).toEqual(['src/a.ts:1:16', 'src/a.ts:2:13']);
    const ci = await search.content({ query: 'todo' });
    expect(ci.results).toHaveLength(3);
    const js = await search.content({ query: 'todo', globs: ['*.js'] });
    expect(js.results.map((m) => m.path)).toEqual(['src/b.js']);
    const neg = await search.content({ query: 'todo', globs: ['!*.js'] });
    expect(neg.results.every((m) => m.path === 'src/a.ts')).toBe(true);
    const re = await search.content({ query: 'h.llo', regex: true });
    expect(re.results[0]!.ranges).toEqual([[4, 9]]);
  });

  it('stops a catastrophic regex with TIMEOUT, off the main thread', async () => {
    writeFileSync(join(root, 'src/evil.txt'), 'a'.repeat(40) + '!\n');
    const slow = new FileSearch(root, new GitignoreCache(root), null, 500);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    const started = Date.now();
    const err = await slow.content({ query: '(a+)+$', regex: true }).catch((e: unknown) => e);
    clearInterval(timer);
    expect((err as { code?: string }).code).toBe('TIMEOUT');
    expect(Date.now() - started).toBeLessThan(10_000);
    // the event loop kept running while the worker backtracked
    expect(ticks).toBeGreaterThan(5);
    // and the engine still answers afterwards
    expect((await slow.content({ query: 'todo' })).results).toHaveLength(3);
  });

  it('ranks fuzzy name matches', () => {
    const a = fuzzyScore('main', 'src/main.py')!;
    const b = fuzzyScore('main', 'src/domain/index.ts')!;
    expect(a.score).toBeGreaterThan(b.score);
    expect(fuzzyScore('xyz', 'src/main.py')).toBeUndefined();
    expect(fuzzyScore('fs', 'src/file-service.ts')!.positions).toEqual([4, 9]);
  });
});

describe('limitGlobs (rg prefilter for path limits)', () => {
  it('anchors each limit glob and what it holds; none when the caller has a positive glob or rg syntax', async () => {
    const { limitGlobs } = await import('./file-search.js');
    const { compilePathRule } = await import('../../core/principal.js');
    expect(limitGlobs(undefined, undefined)).toEqual([]);
    expect(limitGlobs(compilePathRule(['src/**', 'docs/*.md']), ['!*.min.js'])).toEqual(['/src/**', '/src/**/**', '/docs/*.md', '/docs/*.md/**']);
    expect(limitGlobs(compilePathRule(['src/**']), ['*.ts'])).toEqual([]);
    expect(limitGlobs(compilePathRule(['src/[x]/**']), undefined)).toEqual([]);
    expect(limitGlobs(compilePathRule(['**']), undefined)).toEqual([]);
  });
});
