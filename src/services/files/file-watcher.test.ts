import { mkdirSync, mkdtempSync, realpathSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileWatcher, type FsBatch } from './file-watcher.js';

describe('FileWatcher', () => {
  let root: string;
  let w: FileWatcher;
  const batches: FsBatch[] = [];
  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), 'icpy-watch-')));
    w = new FileWatcher({ root, ignore: ['*.log', 'dist/'], publish: (b) => batches.push(b) });
    await w.start();
  });
  afterAll(async () => {
    await w.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  it('skips configured globs and nested node_modules/.git, reports the rest', async () => {
    mkdirSync(join(root, 'dist'));
    mkdirSync(join(root, 'pkg/node_modules/x'), { recursive: true });
    writeFileSync(join(root, 'dist/out.js'), '');
    writeFileSync(join(root, 'a.log'), '');
    writeFileSync(join(root, 'pkg/node_modules/x/i.js'), '');
    writeFileSync(join(root, 'keep.txt'), '');
    const deadline = Date.now() + 5000;
    while (!batches.some((b) => b.paths.includes('keep.txt')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    const all = batches.flatMap((b) => b.paths);
    expect(all).toContain('keep.txt');
    expect(all).toContain('pkg');
    expect(all.filter((p) => p.startsWith('dist') || p.endsWith('.log') || p.includes('node_modules'))).toEqual([]);
  });

  it('reports each change of a steady stream once, whichever path (fast folder watch or backend) saw it first', async () => {
    mkdirSync(join(root, 'stream'));
    const names = Array.from({ length: 40 }, (_, i) => `stream/s${i}.txt`);
    const start = batches.length;
    for (const n of names) {
      writeFileSync(join(root, n), 'data');
      await new Promise((r) => setTimeout(r, 15));
    }
    const count = (topic: string, from: number) => {
      const m = new Map<string, number>();
      for (const b of batches.slice(from)) if (b.topic === topic) for (const p of b.paths) m.set(p, (m.get(p) ?? 0) + 1);
      return m;
    };
    const deadline = Date.now() + 5000;
    while (names.some((n) => !count('fs.file.created', start).has(n)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // Let the backend's own (late, debounced) report of the same changes arrive too.
    await new Promise((r) => setTimeout(r, 1000));
    const created = count('fs.file.created', start);
    for (const n of names) expect(created.get(n), n).toBe(1);

    const delStart = batches.length;
    for (const n of names) unlinkSync(join(root, n));
    const delDeadline = Date.now() + 5000;
    while (names.some((n) => !count('fs.file.deleted', delStart).has(n)) && Date.now() < delDeadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 1000));
    const deleted = count('fs.file.deleted', delStart);
    for (const n of names) expect(deleted.get(n), n).toBe(1);
  });
  it("puts a folder on the fast path for another program's change there, not for icpy's own saves", async () => {
    mkdirSync(join(root, 'own'));
    mkdirSync(join(root, 'other'));
    await new Promise((r) => setTimeout(r, 700)); // the backend's report of the two new folders
    const until = async (cond: () => boolean) => {
      const deadline = Date.now() + 5000;
      while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    };
    const published = (rel: string) => batches.some((b) => b.paths.includes(rel));
    // icpy's atomic saves, as FileService makes them: begin, temp file, rename, made.
    const own = join(root, 'own/doc.txt');
    for (let i = 0; i < 5; i++) {
      const end = w.begin([own]);
      const tmp = join(root, `own/.doc.txt.icpy-${'0'.repeat(11)}${i}.tmp`);
      writeFileSync(tmp, `v${i}`);
      renameSync(tmp, own);
      w.made([{ topic: i ? 'fs.file.changed' : 'fs.file.created', real: own, rel: 'own/doc.txt' }]);
      end();
    }
    writeFileSync(join(root, 'other/x.txt'), 'by another program');
    await until(() => published('other/x.txt'));
    await new Promise((r) => setTimeout(r, 700)); // every backend report of the saves is in
    expect(published('own/doc.txt')).toBe(false);
    expect(w.hotDirs).toContain(join(root, 'other'));
    expect(w.hotDirs).not.toContain(join(root, 'own'));
    // Another program's write in that folder puts it on the fast path.
    writeFileSync(join(root, 'own/doc.txt'), 'edited elsewhere');
    await until(() => published('own/doc.txt'));
    await until(() => w.hotDirs.includes(join(root, 'own')));
    expect(w.hotDirs).toContain(join(root, 'own'));
  });
});
