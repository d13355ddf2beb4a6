import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SmallWriter } from './small-writer.js';

const root = mkdtempSync(join(tmpdir(), 'icpy-writer-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('SmallWriter (writer threads)', () => {
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

  it('refuses writes once disposed', async () => {
    const w = new SmallWriter();
    w.dispose();
    await expect(w.write({ tmp: join(root, '.z.tmp'), target: join(root, 'z'), data: Buffer.from('z'), mode: 0o666, chmod: false })).rejects.toMatchObject({ code: 'ECANCELED' });
  });
});
