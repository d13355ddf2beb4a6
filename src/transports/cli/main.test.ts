import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toServerPath } from './main.js';
import { parseFileRef } from './commands/open.js';

const base = mkdtempSync(join(tmpdir(), 'icpy-paths-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe('shell paths → workspace paths', () => {
  const root = join(base, 'ws');
  mkdirSync(join(root, 'src', 'lib'), { recursive: true });

  it('maps paths relative to the current folder onto the root', () => {
    expect(toServerPath('a.py', join(root, 'src'), root)).toBe('src/a.py');
    expect(toServerPath('../README.md', join(root, 'src', 'lib'), root)).toBe('src/README.md');
    expect(toServerPath('.', root, root)).toBe('.');
    expect(toServerPath(join(root, 'src', 'new', 'file.txt'), '/', root)).toBe('src/new/file.txt');
  });

  it('follows a symlinked current folder into the root', () => {
    const link = join(base, 'link-to-src');
    symlinkSync(join(root, 'src'), link);
    expect(toServerPath('x.txt', link, root)).toBe('src/x.txt');
  });

  it('outside the root: relative paths are root-relative, absolute ones pass through', () => {
    expect(toServerPath('src/a.py', base, root)).toBe('src/a.py');
    expect(toServerPath('/etc/passwd', base, root)).toBe('/etc/passwd');
  });

  it('parses FILE:LINE:COL', () => {
    expect(parseFileRef('a.py:12:3', root)).toEqual({ path: 'a.py', line: 12, column: 3 });
    expect(parseFileRef('a.py:12', root)).toEqual({ path: 'a.py', line: 12 });
    expect(parseFileRef('a.py', root)).toEqual({ path: 'a.py' });
  });
});
