import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_READ_TURN_MS, SmallWriter } from './small-writer.js';

const root = mkdtempSync(join(tmpdir(), 'icpy-writer-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('SmallWriter (writer thread, read turns)', () => {
  const writer = new SmallWriter();
  afterAll(() => writer.dispose());

  it('lands 200 concurrent writes, each its own bytes and mode, and leaves no temp file', async () => {
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        writer.write({ tmp: join(root, `.f${i}.txt.icpy-00000000000${i % 10}.tmp`), target: join(root, `f${i}.txt`), data: Buffer.from(`file ${i}`), mode: 0o640, chmod: true }),
      ),
    );
    for (let i = 0; i < 200; i++) {
      expect(readFileSync(join(root, `f${i}.txt`), 'utf8')).toBe(`file ${i}`);
      expect(statSync(join(root, `f${i}.txt`)).mode & 0o777).toBe(0o640);
    }
    expect(readdirSync(root).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(writer.busy).toBe(0);
  });

  it('rejects with the failing call’s code and removes its temp file', async () => {
    const err = await writer.write({ tmp: join(root, 'missing/.x.icpy-000000000000.tmp'), target: join(root, 'missing/x'), data: Buffer.from('x'), mode: 0o666, chmod: false }).catch((e: NodeJS.ErrnoException) => e);
    expect((err as NodeJS.ErrnoException).code).toBe('ENOENT');
    const tmp = join(root, '.y.icpy-000000000000.tmp');
    const err2 = await writer.write({ tmp, target: join(root, 'f1.txt/y'), data: Buffer.from('y'), mode: 0o666, chmod: false }).catch((e: NodeJS.ErrnoException) => e);
    expect((err2 as NodeJS.ErrnoException).code).toBe('ENOTDIR');
    expect(existsSync(tmp)).toBe(false);
  });

  it('readTurn: none while no write is under way; else after every write submitted before it, not the ones after', async () => {
    expect(writer.readTurn()).toBeUndefined();
    const order: string[] = [];
    const job = (i: number) => ({ tmp: join(root, `.t${i}.txt.icpy-00000000000${i}.tmp`), target: join(root, `t${i}.txt`), data: Buffer.from(`t ${i}`), mode: 0o644, chmod: false });
    const w1 = writer.write(job(1)).then(() => order.push('w1'));
    const w2 = writer.write(job(2)).then(() => order.push('w2'));
    const turn = writer.readTurn();
    expect(turn).toBeInstanceOf(Promise);
    const t = turn!.then(() => {
      order.push('read');
      // what the read would see: both earlier writes have landed
      expect(readFileSync(join(root, 't1.txt'), 'utf8')).toBe('t 1');
      expect(readFileSync(join(root, 't2.txt'), 'utf8')).toBe('t 2');
    });
    const w3 = writer.write(job(3)).then(() => order.push('w3'));
    await Promise.all([w1, w2, t, w3]);
    expect(order).toEqual(['w1', 'w2', 'read', 'w3']);
    expect(writer.readTurn()).toBeUndefined();
  });

  it('readTurn: a failed write counts as finished', async () => {
    const failing = writer.write({ tmp: join(root, 'nowhere/.x.icpy-000000000000.tmp'), target: join(root, 'nowhere/x'), data: Buffer.from('x'), mode: 0o666, chmod: false }).catch(() => 'failed');
    const turn = writer.readTurn();
    expect(turn).toBeInstanceOf(Promise);
    await turn;
    expect(await failing).toBe('failed');
    expect(writer.readTurn()).toBeUndefined();
  });

  it('readTurn: a read waits its bound at most behind a long backlog of writes (50 ms by default)', async () => {
    expect(MAX_READ_TURN_MS).toBe(50);
    const bound = 5;
    const w = new SmallWriter(bound);
    try {
      // 3,000 writes take one thread far longer than the bound (tens of µs each, even on tmpfs)
      const all = Promise.all(
        Array.from({ length: 3000 }, (_, i) => w.write({ tmp: join(root, `.b${i}.txt.icpy-${String(i).padStart(12, '0')}.tmp`), target: join(root, `b${i % 20}.txt`), data: Buffer.from(`b ${i}`), mode: 0o644, chmod: false })),
      );
      const t0 = performance.now();
      await w.readTurn();
      const waited = performance.now() - t0;
      expect(w.busy).toBeGreaterThan(0); // released by the bound, not by the backlog's end
      expect(waited).toBeGreaterThanOrEqual(bound - 1);
      await all;
    } finally {
      w.dispose();
    }
  });

  it('refuses writes once disposed', async () => {
    const w = new SmallWriter();
    w.dispose();
    await expect(w.write({ tmp: join(root, '.z.tmp'), target: join(root, 'z'), data: Buffer.from('z'), mode: 0o666, chmod: false })).rejects.toMatchObject({ code: 'ECANCELED' });
  });
});
