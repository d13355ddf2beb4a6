import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PathGuard } from './path-guard.js';

const root = mkdtempSync(join(tmpdir(), 'icpy-guard-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** What lexical() must return, computed the slow, obvious way. */
function expected(g: PathGuard, input: string): { rel: string; abs: string } | 'refused' | 'absolute' {
  if (input.includes('\0')) return 'refused';
  const p = input.replace(/\\/g, '/');
  if (isAbsolute(p)) return 'absolute'; // covered by the files tests
  const abs = resolve(g.root, p);
  if (abs !== g.root && !abs.startsWith(g.root + sep)) return 'refused';
  return { rel: relative(g.root, abs).split(sep).join('/'), abs };
}

describe('PathGuard.lexical', () => {
  const g = new PathGuard(root);
  const cases = [
    'a', 'a.txt', 'src/a.ts', 'a/b/c/d.e', '.git', '.icpy/state.db', '...', 'a/.../b', '..a', 'a..', 'a/..b/c',
    '.', './a', 'a/.', 'a/./b', '..', '../x', 'a/..', 'a/../b', 'a/../../b', 'a//b', 'a/', '', 'a\\b',
    '..\\x', 'a\0b', 'ü/ñ é', 'a b/c d', `../${root.split(sep).pop()}2/x`, 'a/b/../../..',
  ];
  for (const input of cases) {
    it(`agrees with path.resolve on ${JSON.stringify(input)}`, () => {
      const want = expected(g, input);
      expect(want).not.toBe('absolute');
      if (want === 'refused') {
        expect(() => g.lexical(input)).toThrowError(/outside the workspace/);
      } else {
        expect(g.lexical(input)).toEqual(want);
      }
    });
  }

  it('agrees on random paths built from tricky segments', () => {
    const parts = ['a', 'b.c', '.', '..', '...', '', '.x', 'x.', ' ', 'é', '\\', 'a\\..'];
    for (let n = 0; n < 5000; n++) {
      const len = 1 + Math.floor(Math.random() * 5);
      const input = Array.from({ length: len }, () => parts[Math.floor(Math.random() * parts.length)]).join('/');
      const want = expected(g, input);
      if (want === 'absolute') continue;
      if (want === 'refused') expect(() => g.lexical(input), input).toThrow();
      else expect(g.lexical(input), input).toEqual(want);
    }
  });
});

describe('PathGuard.relOfReal', () => {
  const g = new PathGuard(root);
  it('is path.relative from the real root, slash-separated, for normalized and other paths', () => {
    const cases = ['', 'a', 'a.txt', 'w/c1.txt', 'a/b/c', '.icpy/x', '...', 'a/.../b', 'a//b', 'a/./b', 'a/../b', 'a/', 'a/..', '../x', 'ü/ñ é'];
    for (const c of cases) {
      const real = c === '' ? g.realRoot : `${g.realRoot}/${c}`;
      expect(g.relOfReal(real), c).toBe(relative(g.realRoot, real).split(sep).join('/'));
    }
    expect(g.relOfReal(`${g.realRoot}2/x`)).toBe(relative(g.realRoot, `${g.realRoot}2/x`));
    expect(g.relOfReal('/elsewhere/y')).toBe(relative(g.realRoot, '/elsewhere/y'));
  });
});
