import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './helpers/server.js';
import { icpy as runIcpy } from './helpers/cli.js';

const icpy = (args: string[], env: NodeJS.ProcessEnv, opts: { cwd?: string; input?: string } = {}) => runIcpy(args, env, opts.cwd, opts.input ?? '');


/** The built `icpy` command as a subprocess against a real in-process server. */


describe('CLI papercuts', () => {
  let s: TestServer;
  let rt: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    s = await startServer();
    rt = mkdtempSync(join(tmpdir(), 'icpy-pc-rt-'));
    const base: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ICPY_')) base[k] = v;
    env = { ...base, ICPY_URL: s.url, ICPY_TOKEN: s.token, ICPY_RUNTIME_DIR: rt, NO_COLOR: '1' };
    writeFileSync(join(s.root, 'a.txt'), 'A\n');
    writeFileSync(join(s.root, 'b.txt'), 'B\n');
    mkdirSync(join(s.root, 'full'));
    writeFileSync(join(s.root, 'full', 'x'), 'x');
  });
  afterAll(async () => {
    await s.close();
    rmSync(rt, { recursive: true, force: true });
  });

  it('events --since N --count K prints exactly K events, even when more are replayed at once', async () => {
    const first = await s.call('events.emit', { topic: 'client.count.a', data: 1 });
    for (let i = 2; i <= 6; i++) await s.call('events.emit', { topic: 'client.count.a', data: i });
    const r = await icpy(['events', 'client.count.**', '--since', String(first.seq - 1), '--count', '2'], env);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n').map((l) => JSON.parse(l).data)).toEqual([1, 2]);
  });

  it("the documented 'workspace.**' pattern follows workspace topics (help and examples use it)", async () => {
    const since = (await s.call('events.status')).lastSeq ?? 0;
    await s.call('workspace.openFile', { path: 'a.txt' });
    const r = await icpy(['events', 'workspace.**', '--since', String(since), '--count', '1'], env);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n')[0]!).topic).toMatch(/^workspace\.[a-z]+\.[a-z]+/);
    const help = await icpy(['events', '--help'], env);
    expect(help.stdout).toContain("'workspace.**'");
    expect(help.stdout).not.toMatch(/'workspace\.\*'(?!\*)(?! matches nothing)/);
  });

  it('cat prints every readable file, reports each missing one, and exits 1', async () => {
    const r = await icpy(['cat', 'a.txt', 'missing.txt', 'b.txt'], env, { cwd: s.root });
    expect(r.stdout).toBe('A\nB\n');
    expect(r.stderr).toContain('missing.txt');
    expect(r.code).toBe(1);
    const ok = await icpy(['cat', 'a.txt', 'b.txt'], env, { cwd: s.root });
    expect(ok.code).toBe(0);
  });

  it('hints name CLI flags: mv/cp -f, rm -r, write -p; write --new says the file exists', async () => {
    for (const cmd of ['mv', 'cp']) {
      const r = await icpy([cmd, 'a.txt', 'b.txt'], env, { cwd: s.root });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('FILE_EXISTS');
      expect(r.stderr).toContain('-f');
      expect(r.stderr).not.toContain('overwrite: true');
    }
    const rm = await icpy(['rm', 'full'], env, { cwd: s.root });
    expect(rm.code).toBe(1);
    expect(rm.stderr).toContain('-r');
    expect(rm.stderr).not.toContain('recursive: true');

    const neu = await icpy(['write', '--new', 'a.txt'], env, { cwd: s.root, input: 'new' });
    expect(neu.code).toBe(1);
    expect(neu.stderr).toMatch(/already exists/);
    expect(neu.stderr).not.toContain('version null');

    const deep = await icpy(['write', 'no/such/dir/f.txt'], env, { cwd: s.root, input: 'x' });
    expect(deep.code).toBe(1);
    expect(deep.stderr).toMatch(/does not exist; use -p/);
    const made = await icpy(['write', '-p', 'no/such/dir/f.txt'], env, { cwd: s.root, input: 'x' });
    expect(made.code).toBe(0);
  });
});
