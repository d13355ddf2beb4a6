import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** icpy's own state folder inside a workspace (`<root>/.icpy`). */
export const STATE_DIR_NAME = '.icpy';

const GITIGNORE = '# Created by icpy: this folder holds icpy\'s own state (never commit it).\n*\n';

/**
 * Create `<root>/.icpy/` if needed, with a `.gitignore` of `*` so the folder ignores itself in
 * `git status` (as pytest's `.pytest_cache/` does) without touching the user's own ignore files.
 * An existing `.gitignore` is left as it is (a user who wants the folder tracked can edit it).
 */
export function ensureStateDir(root: string): string {
  return ensureSelfIgnoringDir(join(root, STATE_DIR_NAME));
}

/** mkdir -p `dir`, then give it a `.gitignore` of `*` unless it has one. */
export function ensureSelfIgnoringDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  try {
    writeFileSync(join(dir, '.gitignore'), GITIGNORE, { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return dir;
}
