// Saves racing writes by other programs (issue 10: "saving and external changes racing each other
// lose nothing"). The races are made deterministic with the files service's own change hooks:
// `begin` runs after the version check and before the temp file is renamed over the target,
// `made` right after the rename and before the stat that gives the new version. A synchronous
// in-place write there (writeFileSync: truncate + write of the same inode, as most programs and
// shell redirections do) lands exactly in the window a real concurrent program can hit.
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SYSTEM_SOURCE } from '../src/core/broker/index.js';
import type { ConnectionInfo } from '../src/core/rpc/index.js';
import { fileServiceDocFiles } from '../src/app/docs-module.js';
import { DocService } from '../src/services/docs/index.js';
import { FileService } from '../src/services/files/index.js';

const LIMITS = { maxOpenDocs: 16, maxDocBytes: 1 << 20, maxDocsPerConnection: 16, maxEditsPerCall: 100 };
const holder: ConnectionInfo = { id: 'c1', kind: 'browser', name: 'typist', transport: 'ws', principalId: 'owner', connectedAt: 0 };

interface Hooks {
  /** After the version check, before the rename. */
  beforeRename?: () => void;
  /** After the rename, before the new version is taken. */
  afterRename?: () => void;
}

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

function setup(initial: string) {
  const root = mkdtempSync(join(tmpdir(), 'icpy-docs-race-'));
  const file = join(root, 'f.txt');
  writeFileSync(file, initial);
  const hooks: Hooks = {};
  // each hook fires once, on the next write only
  const once = (k: keyof Hooks) => {
    const fn = hooks[k];
    hooks[k] = undefined;
    fn?.();
  };
  const files = new FileService(root, {
    changes: {
      begin: () => {
        once('beforeRename');
        return () => undefined;
      },
      made: () => once('afterRename'),
    },
  });
  const port = fileServiceDocFiles(files, LIMITS.maxDocBytes);
  const docs = new DocService({ files: port, limits: LIMITS, saveDebounceMs: 1, saveMaxDelayMs: 10 });
  cleanup.push(async () => {
    await docs.dispose();
    rmSync(root, { recursive: true, force: true });
  });
  const disk = () => readFileSync(file, 'utf8');
  /** Another program: reads the file now and writes `prefix` + what it read, in place. */
  const prepend = (prefix: string, from = disk()) => writeFileSync(file, prefix + from);
  return { files, port, docs, hooks, disk, prepend, file };
}

const end = (t: string) => ({ start: { line: t.split('\n').length - 1, character: 0 }, end: { line: t.split('\n').length - 1, character: 0 } });

/** Type `line` at the end of the open document. */
async function type(docs: DocService, line: string): Promise<void> {
  const { text } = await docs.get('f.txt');
  await docs.applyEdits('f.txt', [{ range: end(text), text: line }], { source: SYSTEM_SOURCE });
}

/** Save until clean; then the document and the disk must agree. */
async function settle(docs: DocService, disk: () => string): Promise<string> {
  for (let i = 0; i < 10 && (await docs.get('f.txt')).dirty; i++) await docs.save('f.txt');
  const { text, dirty } = await docs.get('f.txt');
  expect(dirty).toBe(false);
  expect(disk()).toBe(text);
  return text;
}

const sortedLines = (t: string) => t.split('\n').filter(Boolean).sort();

describe('DocFiles port: writes racing a save are handed back', () => {
  it('a write between the version check and the rename is caught by the check made with the rename (VERSION_CONFLICT)', async () => {
    const { files, port, hooks, file } = setup('base\n');
    const v0 = (await files.stat('f.txt')).version;
    hooks.beforeRename = () => writeFileSync(file, 'one\nbase\n');
    await expect(port.writeText('f.txt', 'ours\n', { expectedVersion: v0, source: SYSTEM_SOURCE })).rejects.toMatchObject({ code: 'VERSION_CONFLICT' });
    expect(readFileSync(file, 'utf8')).toBe('one\nbase\n');
  });

  it('…and so is a program that replaces the file by a rename of its own (its file cannot be handed back once ours replaced it)', async () => {
    const { files, port, hooks, file } = setup('base\n');
    const v0 = (await files.stat('f.txt')).version;
    hooks.beforeRename = () => {
      writeFileSync(file + '.swp', 'one\nbase\n');
      renameSync(file + '.swp', file);
    };
    await expect(port.writeText('f.txt', 'ours\n', { expectedVersion: v0, source: SYSTEM_SOURCE })).rejects.toMatchObject({ code: 'VERSION_CONFLICT' });
    expect(readFileSync(file, 'utf8')).toBe('one\nbase\n');
  });

  it('a write into our new file before its version was taken is reported as `overwritten`', async () => {
    const { files, port, hooks, file } = setup('base\n');
    const v0 = (await files.stat('f.txt')).version;
    hooks.afterRename = () => writeFileSync(file, 'two\nours\n');
    const r = await port.writeText('f.txt', 'ours\n', { expectedVersion: v0, source: SYSTEM_SOURCE });
    expect(r).toEqual({ version: (await files.stat('f.txt')).version, overwritten: 'two\nours\n' });
  });

  it('a quiet save reports neither', async () => {
    const { files, port } = setup('base\n');
    const v0 = (await files.stat('f.txt')).version;
    expect(await port.writeText('f.txt', 'ours\n', { expectedVersion: v0, source: SYSTEM_SOURCE })).toEqual({ version: (await files.stat('f.txt')).version });
  });
});

describe('DocService: a save racing writes by another program loses nothing and merges nothing twice', () => {
  it('a writer that read our saved file and wrote it in place before its version was taken', async () => {
    const { docs, hooks, disk, prepend } = setup('base\n');
    await docs.open('f.txt', holder);
    await type(docs, 'typed0\n');
    hooks.afterRename = () => prepend('ext0\n'); // reads "base\ntyped0\n" (ours), writes in place
    await docs.save('f.txt');
    await type(docs, 'typed1\n');
    expect(await settle(docs, disk)).toBe('ext0\nbase\ntyped0\ntyped1\n');
  });

  it('a writer that read the file before our rename and wrote after it (into our new file)', async () => {
    const { docs, hooks, disk, file } = setup('base\n');
    await docs.open('f.txt', holder);
    await type(docs, 'typed0\n');
    const read = disk(); // "base\n": read before the save
    hooks.afterRename = () => writeFileSync(file, 'ext0\n' + read);
    await docs.save('f.txt');
    expect(await settle(docs, disk)).toBe('ext0\nbase\ntyped0\n');
  });

  it('a write into the replaced file during the rename, then one into ours (traced: the first was lost)', async () => {
    const { docs, hooks, disk, prepend } = setup('base\n');
    await docs.open('f.txt', holder);
    await type(docs, 'typed0\n');
    hooks.beforeRename = () => prepend('ext0\n'); // into the file our rename replaces
    hooks.afterRename = () => prepend('ext1\n'); // reads our new file, writes it in place
    await docs.save('f.txt');
    expect(sortedLines(await settle(docs, disk))).toEqual(['base', 'ext0', 'ext1', 'typed0']);
  });

  it('a write into the replaced file during the rename, then one into ours by a writer that had read the first (traced: merged twice)', async () => {
    const { docs, hooks, disk, file, prepend } = setup('base\n');
    await docs.open('f.txt', holder);
    await type(docs, 'typed0\n');
    let seen = '';
    hooks.beforeRename = () => {
      prepend('ext0\n');
      seen = disk(); // "ext0\nbase\n", read before the rename…
    };
    hooks.afterRename = () => writeFileSync(file, 'ext1\n' + seen); // …written after it
    await docs.save('f.txt');
    expect(sortedLines(await settle(docs, disk))).toEqual(['base', 'ext0', 'ext1', 'typed0']);
  });

  it('a program replacing the file by rename between the version check and our rename (was lost: 2–10 of 40 in the aggressive test)', async () => {
    const { docs, hooks, disk, file } = setup('base\n');
    await docs.open('f.txt', holder);
    await type(docs, 'typed0\n');
    hooks.beforeRename = () => {
      writeFileSync(file + '.swp', 'ext0\n' + disk());
      renameSync(file + '.swp', file);
    };
    await docs.save('f.txt');
    expect(await settle(docs, disk)).toBe('ext0\nbase\ntyped0\n');
  });

  it('a write into the replaced file only (in place, after the version check)', async () => {
    const { docs, hooks, disk, prepend } = setup('base\n');
    await docs.open('f.txt', holder);
    await type(docs, 'typed0\n');
    hooks.beforeRename = () => prepend('ext0\n');
    await docs.save('f.txt');
    expect(await settle(docs, disk)).toBe('ext0\nbase\ntyped0\n');
  });
});
