import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, RpcError, startServer, type TestServer, type WsClient } from './helpers/server.js';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RpcError) return err.data?.code;
    throw err;
  }
  throw new Error('expected an error');
}

describe('files service over WebSocket', () => {
  let s: TestServer;
  let c: WsClient;
  let outside: string;
  let sibling: string;

  beforeAll(async () => {
    s = await startServer();
    c = await connect(s, { kind: 'browser', name: 'alice' });
    outside = mkdtempSync(join(tmpdir(), 'icpy-outside-'));
    writeFileSync(join(outside, 'secret.txt'), 'secret');
    sibling = s.root + '2';
    mkdirSync(sibling, { recursive: true });
    writeFileSync(join(sibling, 'x.txt'), 'sibling');
  });
  afterAll(async () => {
    await c.close();
    await s.close();
    rmSync(outside, { recursive: true, force: true });
    rmSync(sibling, { recursive: true, force: true });
  });

  it('writes, reads, stats and lists (CRUD round trip)', async () => {
    const w = await c.call('files.write', { path: 'src/a.txt', content: 'héllo\n', mkdirs: true });
    expect(w).toMatchObject({ path: 'src/a.txt', created: true, size: 7 });
    const r = await c.call('files.read', { path: 'src/a.txt' });
    expect(r).toMatchObject({ content: 'héllo\n', encoding: 'utf8', size: 7, version: w.version, truncated: false });
    const st = await c.call('files.stat', { path: 'src/a.txt' });
    expect(st).toMatchObject({ type: 'file', size: 7, version: w.version, symlink: false });
    const l = await c.call('files.list', { path: 'src' });
    expect(l.entries).toEqual([expect.objectContaining({ name: 'a.txt', path: 'src/a.txt', type: 'file', size: 7 })]);
    const w2 = await c.call('files.write', { path: 'src/a.txt', content: 'bye' });
    expect(w2.created).toBe(false);
    expect(w2.version).not.toBe(w.version);
    expect(readFileSync(join(s.root, 'src/a.txt'), 'utf8')).toBe('bye');
    await c.call('files.copy', { from: 'src/a.txt', to: 'src/b.txt' });
    await c.call('files.move', { from: 'src/b.txt', to: 'c.txt' });
    expect(readFileSync(join(s.root, 'c.txt'), 'utf8')).toBe('bye');
    expect(await codeOf(c.call('files.move', { from: 'c.txt', to: 'src/a.txt' }))).toBe('FILE_EXISTS');
    await c.call('files.delete', { path: 'c.txt' });
    expect(existsSync(join(s.root, 'c.txt'))).toBe(false);
    expect(await codeOf(c.call('files.read', { path: 'c.txt' }))).toBe('FILE_NOT_FOUND');
    await c.call('files.mkdir', { path: 'd/e/f' });
    expect(statSync(join(s.root, 'd/e/f')).isDirectory()).toBe(true);
    expect(await codeOf(c.call('files.delete', { path: 'd' }))).toBe('DIRECTORY_NOT_EMPTY');
    await c.call('files.copy', { from: 'd', to: 'd2' });
    expect(statSync(join(s.root, 'd2/e/f')).isDirectory()).toBe(true);
    await c.call('files.delete', { path: 'd', recursive: true });
    await c.call('files.delete', { path: 'd2', recursive: true });
    expect(existsSync(join(s.root, 'd'))).toBe(false);
    // the same over HTTP JSON-RPC
    const viaHttp = await s.call('files.read', { path: 'src/a.txt' });
    expect(viaHttp.content).toBe('bye');
  });

  it('keeps the mode of an overwritten file and leaves no temp files', async () => {
    // 0750 and 0666 lose bits to the usual umask (022) at open, 0644/0600 do not, 04755 has setuid
    for (const mode of [0o750, 0o644, 0o600, 0o666, 0o4755]) {
      writeFileSync(join(s.root, 'run.sh'), '#!/bin/sh\n');
      chmodSync(join(s.root, 'run.sh'), mode);
      await c.call('files.write', { path: 'run.sh', content: '#!/bin/sh\necho hi\n' });
      expect(statSync(join(s.root, 'run.sh')).mode & 0o7777, mode.toString(8)).toBe(mode);
    }
    expect(readdirSync(s.root).filter((n) => n.includes('.tmp'))).toEqual([]);
  });

  it('refuses to read a FIFO without waiting for a writer, and keeps serving', async () => {
    execFileSync('mkfifo', [join(s.root, 'pipe')]);
    expect(await codeOf(c.call('files.read', { path: 'pipe' }))).toBe('NOT_A_FILE');
    const res = await fetch(`${s.url}/api/files/pipe`, { headers: { authorization: `Bearer ${s.token}` } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { data: { code: string } } }).error.data.code).toBe('NOT_A_FILE');
    expect(await c.call('files.stat', { path: 'pipe' })).toMatchObject({ type: 'other' });
    expect(await codeOf(c.call('files.copy', { from: 'pipe', to: 'pipe2' }))).toBe('NOT_A_FILE');
    // a folder holding a FIFO copies, without it (fs.cp alone failed half-way with an internal error)
    mkdirSync(join(s.root, 'fifo-dir'));
    writeFileSync(join(s.root, 'fifo-dir/a.txt'), 'a');
    execFileSync('mkfifo', [join(s.root, 'fifo-dir/p')]);
    expect(await c.call('files.copy', { from: 'fifo-dir', to: 'fifo-copy' })).toEqual({ from: 'fifo-dir', to: 'fifo-copy', skipped: ['fifo-dir/p'] });
    expect(readdirSync(join(s.root, 'fifo-copy'))).toEqual(['a.txt']);
    expect(await c.call('files.copy', { from: 'src', to: 'src-copy' })).not.toHaveProperty('skipped');
    // a folder copied over a file of the same name inside the target is a clear conflict
    mkdirSync(join(s.root, 'cp-a/x'), { recursive: true });
    mkdirSync(join(s.root, 'cp-b'));
    writeFileSync(join(s.root, 'cp-b/x'), 'file');
    expect(await codeOf(c.call('files.copy', { from: 'cp-a', to: 'cp-b', overwrite: true }))).toBe('FILE_EXISTS');
    rmSync(join(s.root, 'cp-a'), { recursive: true });
    rmSync(join(s.root, 'cp-b'), { recursive: true });
    rmSync(join(s.root, 'fifo-dir'), { recursive: true });
    rmSync(join(s.root, 'fifo-copy'), { recursive: true });
    rmSync(join(s.root, 'src-copy'), { recursive: true });
    expect(await codeOf(c.call('files.read', { path: '.' }))).toBe('IS_A_DIRECTORY');
    rmSync(join(s.root, 'pipe'));
  });

  it('reads binary as base64 and byte ranges', async () => {
    const bytes = Buffer.from([0, 1, 2, 255, 254, 10, 65, 66]);
    await c.call('files.write', { path: 'bin.dat', content: bytes.toString('base64'), encoding: 'base64' });
    expect(readFileSync(join(s.root, 'bin.dat'))).toEqual(bytes);
    const r = await c.call('files.read', { path: 'bin.dat' });
    expect(r.encoding).toBe('base64');
    expect(Buffer.from(r.content, 'base64')).toEqual(bytes);
    const part = await c.call('files.read', { path: 'bin.dat', offset: 3, length: 3, encoding: 'base64' });
    expect(Buffer.from(part.content, 'base64')).toEqual(bytes.subarray(3, 6));
    expect(part).toMatchObject({ offset: 3, length: 3, truncated: true, size: 8 });
    writeFileSync(join(s.root, 'text.txt'), 'abcdefghij');
    const t = await c.call('files.read', { path: 'text.txt', offset: 8, length: 100 });
    expect(t).toMatchObject({ content: 'ij', encoding: 'utf8', truncated: false });
  });

  it('rejects a stale expectedVersion with VERSION_CONFLICT carrying the current version', async () => {
    const w = await c.call('files.write', { path: 'v.txt', content: 'one' });
    const w2 = await c.call('files.write', { path: 'v.txt', content: 'two', expectedVersion: w.version });
    const err = await c.call('files.write', { path: 'v.txt', content: 'three', expectedVersion: w.version }).catch((e) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect(err.data).toMatchObject({ code: 'VERSION_CONFLICT', currentVersion: w2.version });
    expect(readFileSync(join(s.root, 'v.txt'), 'utf8')).toBe('two');
    // someone else writes on disk: the version moves
    writeFileSync(join(s.root, 'v.txt'), 'disk!');
    expect(await codeOf(c.call('files.write', { path: 'v.txt', content: 'x', expectedVersion: w2.version }))).toBe('VERSION_CONFLICT');
    // null = must not exist
    expect(await codeOf(c.call('files.write', { path: 'v.txt', content: 'x', expectedVersion: null }))).toBe('VERSION_CONFLICT');
    await c.call('files.write', { path: 'new-only.txt', content: 'x', expectedVersion: null });
    // 20 concurrent writers with the same expected version: exactly one wins
    const base = await c.call('files.read', { path: 'v.txt' });
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => c.call('files.write', { path: 'v.txt', content: `w${i}`, expectedVersion: base.version })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('lists hidden files on request, honours .gitignore, and pages', async () => {
    mkdirSync(join(s.root, 'lst/build'), { recursive: true });
    writeFileSync(join(s.root, 'lst/.gitignore'), 'build/\n*.log\n!keep.log\n');
    writeFileSync(join(s.root, 'lst/.hidden'), '');
    writeFileSync(join(s.root, 'lst/a.log'), '');
    writeFileSync(join(s.root, 'lst/keep.log'), '');
    for (let i = 0; i < 25; i++) writeFileSync(join(s.root, `lst/f${String(i).padStart(2, '0')}.txt`), 'x');
    const names = async (p: object) => {
      const out: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await c.call('files.list', { path: 'lst', ...p, cursor });
        out.push(...page.entries.map((e: any) => e.name));
        cursor = page.nextCursor;
      } while (cursor);
      return out;
    };
    const plain = await names({});
    expect(plain).not.toContain('.hidden');
    expect(plain).not.toContain('build');
    expect(plain).not.toContain('a.log');
    expect(plain).toContain('keep.log');
    expect(plain).toHaveLength(26);
    const paged = await names({ limit: 7 });
    expect(paged).toEqual(plain);
    const all = await names({ hidden: true, ignored: true });
    expect(all[0]).toBe('build');
    expect(all).toEqual(expect.arrayContaining(['.hidden', '.gitignore', 'a.log', 'build']));
  });

  describe('confinement', () => {
    const refused = ['../x.txt', 'a/../../x.txt', '/etc/passwd'];
    it.each(refused)('refuses %s for read and write', async (p) => {
      expect(await codeOf(c.call('files.read', { path: p }))).toBe('PATH_OUTSIDE_WORKSPACE');
      expect(await codeOf(c.call('files.write', { path: p, content: 'x' }))).toBe('PATH_OUTSIDE_WORKSPACE');
      expect(await codeOf(c.call('files.stat', { path: p }))).toBe('PATH_OUTSIDE_WORKSPACE');
    });

    it('refuses a sibling folder sharing the root prefix', async () => {
      expect(await codeOf(c.call('files.read', { path: join(sibling, 'x.txt') }))).toBe('PATH_OUTSIDE_WORKSPACE');
      expect(await codeOf(c.call('files.read', { path: `../${sibling.split('/').pop()}/x.txt` }))).toBe('PATH_OUTSIDE_WORKSPACE');
      expect(await codeOf(c.call('files.write', { path: join(sibling, 'y.txt'), content: 'x' }))).toBe('PATH_OUTSIDE_WORKSPACE');
      expect(existsSync(join(sibling, 'y.txt'))).toBe(false);
    });

    it('accepts an absolute path inside the root', async () => {
      writeFileSync(join(s.root, 'abs.txt'), 'abs');
      expect((await c.call('files.read', { path: join(s.root, 'abs.txt') })).content).toBe('abs');
    });

    it('refuses symlinks inside the root that point out (read, write, new file through a linked folder, list, copy)', async () => {
      symlinkSync(join(outside, 'secret.txt'), join(s.root, 'link-file'));
      symlinkSync(outside, join(s.root, 'link-dir'));
      symlinkSync(join(outside, 'not-yet.txt'), join(s.root, 'dangling'));
      expect(await codeOf(c.call('files.read', { path: 'link-file' }))).toBe('PATH_OUTSIDE_WORKSPACE');
      expect(await codeOf(c.call('files.write', { path: 'link-file', content: 'pwned' }))).toBe('PATH_OUTSIDE_WORKSPACE');
      expect(await codeOf(c.call('files.read', { path: 'link-dir/secret.txt' }))).toBe('PATH_OUTSIDE_WORKSPACE');
      expect(await codeOf(c.call('files.write', { path: 'link-dir/new.txt', content: 'pwned' }))).toBe('PATH_OUTSIDE_WORKSPACE');
      expect(await codeOf(c.call('files.write', { path: 'link-dir/sub/new.txt', content: 'pwned', mkdirs: true }))).toBe('PATH_OUTSIDE_WORKSPACE');
      expect(await codeOf(c.call('files.write', { path: 'dangling', content: 'pwned' }))).toBe('PATH_OUTSIDE_WORKSPACE');
      expect(await codeOf(c.call('files.list', { path: 'link-dir' }))).toBe('PATH_OUTSIDE_WORKSPACE');
      expect(await codeOf(c.call('files.copy', { from: 'link-file', to: 'copied.txt' }))).toBe('PATH_OUTSIDE_WORKSPACE');
      expect(await codeOf(c.call('files.mkdir', { path: 'link-dir/newdir' }))).toBe('PATH_OUTSIDE_WORKSPACE');
      expect(await codeOf(c.call('files.move', { from: 'abs.txt', to: 'link-dir/moved.txt' }))).toBe('PATH_OUTSIDE_WORKSPACE');
      expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('secret');
      expect(readdirSync(outside)).toEqual(['secret.txt']);
      // deleting the link removes the link only
      await c.call('files.delete', { path: 'link-file' });
      expect(existsSync(join(outside, 'secret.txt'))).toBe(true);
    });

    it('follows symlinks that stay inside the root', async () => {
      mkdirSync(join(s.root, 'real'), { recursive: true });
      writeFileSync(join(s.root, 'real/in.txt'), 'inside');
      symlinkSync(join(s.root, 'real'), join(s.root, 'alias'));
      expect((await c.call('files.read', { path: 'alias/in.txt' })).content).toBe('inside');
      await c.call('files.write', { path: 'alias/new.txt', content: 'ok' });
      expect(readFileSync(join(s.root, 'real/new.txt'), 'utf8')).toBe('ok');
      // stat says whether the named path itself is a link (not a file reached through one)
      symlinkSync(join(s.root, 'real/in.txt'), join(s.root, 'in-link.txt'));
      expect(await c.call('files.stat', { path: 'in-link.txt' })).toMatchObject({ type: 'file', size: 6, symlink: true });
      expect(await c.call('files.stat', { path: 'alias' })).toMatchObject({ type: 'dir', symlink: true });
      expect(await c.call('files.stat', { path: 'alias/in.txt' })).toMatchObject({ type: 'file', symlink: false });
      expect(await c.call('files.stat', { path: 'real/in.txt' })).toMatchObject({ type: 'file', symlink: false });
    });

    it('keeps .icpy/ read-only through the API', async () => {
      expect(await codeOf(c.call('files.write', { path: '.icpy/x', content: 'x', mkdirs: true }))).toBe('READ_ONLY_PATH');
      expect(await codeOf(c.call('files.mkdir', { path: '.icpy/sub' }))).toBe('READ_ONLY_PATH');
      expect(await codeOf(c.call('files.delete', { path: '.icpy', recursive: true }))).toBe('READ_ONLY_PATH');
      expect(await codeOf(c.call('files.move', { from: 'abs.txt', to: '.icpy/abs.txt' }))).toBe('READ_ONLY_PATH');
      expect(await codeOf(c.call('files.copy', { from: 'abs.txt', to: './.icpy/abs.txt' }))).toBe('READ_ONLY_PATH');
      expect(await codeOf(c.call('files.write', { path: 'q/../.icpy/y', content: 'x' }))).toBe('READ_ONLY_PATH');
      symlinkSync(join(s.root, '.icpy'), join(s.root, 'state-alias'));
      expect(await codeOf(c.call('files.write', { path: 'state-alias/z', content: 'x' }))).toBe('READ_ONLY_PATH');
    });
  });

  it('rejects unknown params with -32602', async () => {
    const err = await c.call('files.read', { path: 'a', bogus: 1 }).catch((e) => e);
    expect(err.code).toBe(-32602);
  });
});
