import { describe, expect, it } from 'vitest';
import { IcpyError } from './errors.js';
import { compilePathRule } from './principal.js';

describe('compilePathRule', () => {
  it('allows a folder glob, what it holds, and nothing beside it', () => {
    const r = compilePathRule(['src/**']);
    expect(r.allows('src')).toBe(true);
    expect(r.allows('src/a/b.ts')).toBe(true);
    expect(r.allows('srcx/a.ts')).toBe(false);
    expect(r.allows('secret.txt')).toBe(false);
    expect(r.allows('')).toBe(false);
    expect(r.mayContain('')).toBe(true);
    expect(r.mayContain('src/a')).toBe(true);
    expect(r.mayContain('lib')).toBe(false);
  });

  it('matches * and ? within one segment; a plain name grants what is below it', () => {
    const r = compilePathRule(['docs/*.md', 'README.md', 'pkg']);
    expect(r.allows('docs/a.md')).toBe(true);
    expect(r.allows('docs/sub/a.md')).toBe(false);
    expect(r.allows('README.md')).toBe(true);
    expect(r.allows('pkg/deep/x')).toBe(true);
    expect(r.mayContain('docs')).toBe(true);
    expect(r.mayContain('docs/sub')).toBe(false);
    expect(compilePathRule(['a?c']).allows('abc')).toBe(true);
    expect(compilePathRule(['a?c']).allows('ac')).toBe(false);
  });

  it('** in the middle matches zero or more segments', () => {
    const r = compilePathRule(['src/**/test/*.ts']);
    expect(r.allows('src/test/a.ts')).toBe(true);
    expect(r.allows('src/x/y/test/a.ts')).toBe(true);
    expect(r.allows('src/x/a.ts')).toBe(false);
    expect(r.mayContain('src/x/y')).toBe(true);
  });

  it('is linear on hostile globs and paths', () => {
    const r = compilePathRule([Array(60).fill('**').join('/') + '/a*a*a*a*a*a*a*b']);
    const t = performance.now();
    expect(r.allows(Array(200).fill('a'.repeat(100)).join('/'))).toBe(false);
    expect(performance.now() - t).toBeLessThan(2000);
  });

  it('refuses malformed globs with INVALID_PARAMS naming paths', () => {
    for (const bad of [[], ['../x'], ['a/./b'], ['a**'], ['a//b'], Array(33).fill('a')]) {
      try {
        compilePathRule(bad);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(IcpyError);
        expect((e as IcpyError).data).toMatchObject({ field: 'paths' });
      }
    }
  });
});
