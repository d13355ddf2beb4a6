import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteDocHistory } from './sqlite-doc-history.js';

const author = { connectionId: 'c1', kind: 'cli' as const, name: 'tester' };
const sha = (t: string) => createHash('sha256').update(t).digest('hex');
const big = { maxVersions: 1000, maxBytes: 1 << 30 };

describe('SqliteDocHistory', () => {
  let dir: string;
  let h: SqliteDocHistory;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'icpy-hist-'));
    h = new SqliteDocHistory(dir);
  });
  afterEach(() => {
    h.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const add = (text: string, o: { path?: string; name?: string; label?: string } = {}, retention = big) =>
    h.add({ path: o.path ?? 'a.txt', time: Date.now(), author, text, sha256: sha(text), ...(o.name ? { name: o.name } : {}), ...(o.label ? { label: o.label } : {}) }, retention);

  it('numbers versions 1, 2, 3 per path and returns content exactly (multi-byte, large)', async () => {
    const text = 'é😀\r\n'.repeat(100_000);
    expect((await add('one')).version).toBe(1);
    expect((await add(text)).version).toBe(2);
    expect((await add('other', { path: 'b.txt' })).version).toBe(1);
    expect(await h.content('a.txt', 2)).toBe(text);
    expect(h.get('a.txt', 2)).toMatchObject({ size: Buffer.byteLength(text), sha256: sha(text), author });
    expect(h.list('a.txt', { limit: 10 }).map((v) => v.version)).toEqual([2, 1]);
    expect(h.list('a.txt', { limit: 10, before: 2 }).map((v) => v.version)).toEqual([1]);
    expect(await h.content('a.txt', 3)).toBeUndefined();
  });

  it('stores content compressed', async () => {
    const text = 'def f(x):\n    return x * 2\n'.repeat(20_000);
    await add(text);
    expect(h.usage('a.txt').bytes).toBeLessThan(Buffer.byteLength(text) / 5);
  });

  it('retention by count drops the oldest unnamed versions first, checkpoints last, never the newest', async () => {
    const keep3 = { maxVersions: 3, maxBytes: 1 << 30 };
    await add('v1', { name: 'start' }, keep3);
    for (let i = 2; i <= 6; i++) await add(`v${i}`, {}, keep3);
    expect(h.list('a.txt', { limit: 10 }).map((v) => v.version)).toEqual([6, 5, 1]);
    // Only checkpoints and the newest left: the oldest checkpoint goes.
    await add('v7', { name: 'b' }, { maxVersions: 1, maxBytes: 1 << 30 });
    expect(h.list('a.txt', { limit: 10 }).map((v) => v.version)).toEqual([7]);
    // The numbers are not reused after pruning.
    expect((await add('v8', {}, keep3)).version).toBe(8);
  });

  it('retention by bytes keeps the newest even when it alone is over the limit', async () => {
    const tiny = { maxVersions: 100, maxBytes: 10 };
    await add('x'.repeat(1000), {}, tiny);
    await add('y'.repeat(1000), {}, tiny);
    expect(h.list('a.txt', { limit: 10 }).map((v) => v.version)).toEqual([2]);
    expect(h.usage('a.txt').count).toBe(1);
  });

  it('survives reopening the file', async () => {
    await add('kept', { name: 'cp', label: 'restored from v1' });
    h.dispose();
    h = new SqliteDocHistory(dir);
    expect(h.latest('a.txt')).toMatchObject({ version: 1, name: 'cp', label: 'restored from v1' });
    expect(await h.content('a.txt', 1)).toBe('kept');
  });
});
