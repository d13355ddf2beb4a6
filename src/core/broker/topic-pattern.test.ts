import { describe, expect, it } from 'vitest';
import { IcpyError } from '../errors.js';
import { assertPattern, assertPatterns, compilePattern, topicMatches } from './topic-pattern.js';

/** The obvious recursive matcher (exponential on crafted patterns): the reference semantics. */
function reference(pattern: string, topic: string): boolean {
  const parts = pattern.split('.');
  const segs = topic.split('.');
  const match = (pi: number, si: number): boolean => {
    if (pi === parts.length) return si === segs.length;
    const p = parts[pi];
    if (p === '**') {
      for (let k = si; k <= segs.length; k++) if (match(pi + 1, k)) return true;
      return false;
    }
    if (si === segs.length) return false;
    return (p === '*' || p === segs[si]) && match(pi + 1, si + 1);
  };
  return match(0, 0);
}

/** Small deterministic PRNG so a failure is reproducible from the printed case. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('topic pattern matching', () => {
  it.each([
    ['fs.file.changed', 'fs.file.changed', true],
    ['fs.*.changed', 'fs.file.changed', true],
    ['fs.*', 'fs.file.changed', false],
    ['fs.**', 'fs.file.changed', true],
    ['fs.**', 'fs', true],
    ['**', 'a.b.c', true],
    ['**.changed', 'changed', true],
    ['**.changed', 'fs.file.changed', true],
    ['**.changed', 'fs.file.changed.x', false],
    ['**.changed', 'fs.file.created', false],
    ['fs.**.changed', 'fs.changed', true],
    ['fs.**.changed', 'fs.a.b.c.changed', true],
    ['**.**', 'a', true],
    ['a.**.**.b', 'a.b', true],
    ['*.**', 'a', true],
    ['*.**.*', 'a', false],
    ['**.a.**.b', 'x.a.y.a.b', true],
    ['*.*', 'a.b', true],
    ['*.*', 'a', false],
    ['terminal.*', 'terminals.created', false],
  ])('%s vs %s → %s', (p, t, want) => {
    expect(topicMatches(p, t)).toBe(want);
    expect(reference(p, t)).toBe(want);
  });

  it('agrees with the reference matcher on random patterns and topics', () => {
    const next = rng(42);
    const alphabet = ['a', 'b', 'c'];
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!;
    for (let n = 0; n < 20_000; n++) {
      const plen = 1 + Math.floor(next() * 7);
      const tlen = 1 + Math.floor(next() * 8);
      const pattern = Array.from({ length: plen }, () => pick(['a', 'b', '*', '**', '**', 'c'])).join('.');
      const topic = Array.from({ length: tlen }, () => pick(alphabet)).join('.');
      const got = topicMatches(pattern, topic);
      if (got !== reference(pattern, topic)) throw new Error(`mismatch on ${pattern} vs ${topic}: got ${got}`);
    }
  });

  it('matches a crafted worst case (**.a.**.a.… against a long non-matching topic) in milliseconds', () => {
    // The old recursive matcher needs C(200, 40)-ish steps here: it never returns.
    const pattern = Array.from({ length: 40 }, () => '**.a').join('.') + '.b';
    const topic = Array.from({ length: 200 }, () => 'a').join('.') + '.c';
    const m = compilePattern(pattern);
    const segs = topic.split('.');
    const t0 = performance.now();
    for (let i = 0; i < 10; i++) expect(m(segs)).toBe(false);
    expect(performance.now() - t0).toBeLessThan(250);
  });
});

describe('pattern limits', () => {
  const limits = { maxPatternLength: 20, maxPatternSegments: 4, maxPatternsPerSubscription: 3 };
  const fail = (fn: () => void) => {
    try {
      fn();
    } catch (e) {
      return e as IcpyError;
    }
    throw new Error('did not throw');
  };

  it('refuses a malformed, too long or too segmented pattern with INVALID_PARAMS naming patterns.i', () => {
    expect(fail(() => assertPatterns(['a', 'b', 'f*'], limits))).toMatchObject({ code: 'INVALID_PARAMS', data: { field: 'patterns.2' } });
    expect(fail(() => assertPatterns(['a', 'x'.repeat(21)], limits))).toMatchObject({
      code: 'INVALID_PARAMS',
      data: { field: 'patterns.1', limit: 'maxPatternLength', max: 20 },
    });
    expect(fail(() => assertPatterns(['a.b.c.d.e'], limits))).toMatchObject({
      code: 'INVALID_PARAMS',
      data: { field: 'patterns.0', limit: 'maxPatternSegments', max: 4 },
    });
    expect(fail(() => assertPattern('a..b'))).toMatchObject({ code: 'INVALID_PARAMS' });
    expect(fail(() => assertPatterns([], limits))).toMatchObject({ code: 'INVALID_PARAMS', data: { field: 'patterns' } });
  });

  it('refuses more patterns than maxPatternsPerSubscription with LIMIT_EXCEEDED', () => {
    expect(fail(() => assertPatterns(['a', 'b', 'c', 'd'], limits))).toMatchObject({
      code: 'LIMIT_EXCEEDED',
      data: { limit: 'maxPatternsPerSubscription', max: 3 },
    });
    expect(() => assertPatterns(['a', 'b.**', '*.c'], limits)).not.toThrow();
  });
});
