import { describe, expect, it } from 'vitest';
import { httpDateOf } from './files-routes.js';

describe('httpDateOf (Last-Modified of REST GET)', () => {
  it('is the HTTP date of the mtime, to the second, cached or not', () => {
    const base = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
    for (const ms of [base, base + 1, base + 321, base + 999, base + 1000, 0, 1_700_000_000_123]) {
      const want = new Date(Math.floor(ms / 1000) * 1000).toUTCString();
      expect(httpDateOf(ms)).toBe(want);
      expect(httpDateOf(ms)).toBe(want);
    }
  });

  it('stays right past its bound', () => {
    for (let i = 0; i < 3000; i++) expect(httpDateOf(i * 1000 + 5)).toBe(new Date(i * 1000).toUTCString());
  });
});
