import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
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
});
