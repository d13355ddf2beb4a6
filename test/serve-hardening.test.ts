import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from './helpers/server.js';
import { until } from './helpers/until.js';

const REPO = resolve(__dirname, '..');
const BIN = join(REPO, 'bin', 'icpy.js');
const NOBODY = 65534;

interface Proc {
  child: ChildProcess;
  line: Promise<string>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
}

function start(cmd: string, args: string[], env: NodeJS.ProcessEnv, opts: { detached?: boolean; cwd?: string } = {}): Proc {
  const child = spawn(cmd, args, { env, cwd: opts.cwd ?? REPO, detached: opts.detached, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const line = new Promise<string>((res, rej) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) res(out.slice(0, nl));
    });
    child.once('exit', (code) => rej(new Error(`exited ${code} before printing a line: ${err}`)));
  });
  line.catch(() => {});
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return { child, line, exit, stderr: () => err };
}

/** Env without the parent's ICPY_* / XDG_RUNTIME_DIR. */
function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ICPY_') && k !== 'XDG_RUNTIME_DIR' && !k.startsWith('npm_')) e[k] = v;
  return { ...e, ICPY_LOG_LEVEL: 'silent', ...extra };
}

/** A process counts as gone when it no longer exists or is a zombie nobody reaped. */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Live (non-zombie) pids in process group `pgid`. */
function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z' && Number(fields[2]) === pgid) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

let base: string;
beforeAll(() => {
  if (!existsSync(join(REPO, 'dist', 'app', 'serve.js'))) throw new Error('run `npm run build` first (npm test does)');
  base = mkdtempSync(join(tmpdir(), 'icpy-harden-'));
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe('`npx icpy serve` and signals', () => {
  // npm 11 runs the bin through its script shell (`sh -c 'icpy' serve …`) and forwards signals only
  // to that shell; dash dies of SIGTERM without passing it on, then npm dies of the same signal.
  // The project's .npmrc makes the script shell bash, which execs the command, so node is npm's
  // child and npx exits with the server's own status. The server also stops if it is orphaned.
  for (const [sig, target] of [
    ['SIGTERM', 'npx'],
    ['SIGTERM', 'group'],
    ['SIGINT', 'group'],
  ] as const) {
    it(`${sig} to the ${target === 'npx' ? 'npx process' : 'process group (Ctrl-C / kill -- -PGID)'} stops the server cleanly, removes its runtime file, leaves no process`, async () => {
      const root = mkdtempSync(join(base, 'npx-root-'));
      const rt = mkdtempSync(join(base, 'npx-rt-'));
      const p = start('npx', ['--no-install', 'icpy', 'serve', root, '--port', '0'], env({ ICPY_RUNTIME_DIR: rt }), { detached: true });
      const line = await p.line;
      const url = /(http:\/\/[^/]+)\//.exec(line)![1]!;
      const [file] = readdirSync(rt);
      const server = JSON.parse(readFileSync(join(rt, file!), 'utf8')).pid as number;
      expect(server).not.toBe(p.child.pid);
      process.kill(target === 'npx' ? p.child.pid! : -p.child.pid!, sig);
      // The documented start command stops cleanly: exit code 0, not death by the signal.
      expect(await p.exit).toEqual({ code: 0, signal: null });
      try {
        await until(() => !running(server), 'the server process to end');
      } finally {
        // Never leave an orphan behind when this fails.
        if (running(server)) process.kill(server, 'SIGKILL');
      }
      expect(readdirSync(rt)).toEqual([]);
      expect(groupMembers(p.child.pid!)).toEqual([]);
      await expect(fetch(`${url}/api/health`)).rejects.toThrow();
      expect(p.stderr()).not.toContain('forcing exit');
      // The workspace lock went with it: the folder can be served again at once.
      expect(existsSync(join(root, '.icpy', 'server.lock'))).toBe(false);
    });
  }
});

describe('the icpy command', () => {
  it('`npx icpy --version` in the checkout answers from this checkout without rebuilding it (package.json declares bin)', async () => {
    expect(JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).bin).toEqual({ icpy: 'bin/icpy.js' });
    const built = statSync(join(REPO, 'dist', 'app', 'serve.js')).mtimeMs;
    const out = execFileSync('npx', ['icpy', '--version'], { cwd: REPO, encoding: 'utf8', env: env({}) });
    expect(out.trim()).toBe(`icpy ${JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version}`);
    expect(statSync(join(REPO, 'dist', 'app', 'serve.js')).mtimeMs).toBe(built);
  });
});

describe('runtime folder trust', () => {
  it('refuses to write into a runtime folder owned by someone else, or writable by others, or a symlink', async () => {
    const root = mkdtempSync(join(base, 'trust-root-'));
    const foreign = mkdtempSync(join(base, 'foreign-'));
    chownSync(foreign, NOBODY, NOBODY);
    const loose = mkdtempSync(join(base, 'loose-'));
    chmodSync(loose, 0o777);
    const target = mkdtempSync(join(base, 'target-'));
    const link = join(base, 'link-rt');
    execFileSync('ln', ['-s', target, link]);
    for (const [dir, why] of [
      [foreign, /owned by uid 65534/],
      [loose, /writable by group or others/],
      [link, /symbolic link/],
    ] as const) {
      const p = start(process.execPath, [BIN, 'serve', root, '--port', '0'], env({ ICPY_RUNTIME_DIR: dir }));
      expect((await p.exit).code, dir).toBe(1);
      expect(p.stderr()).toMatch(why);
      expect(readdirSync(dir)).toEqual([]);
    }
  });

  it('with no XDG_RUNTIME_DIR, a pre-existing foreign <tmpdir>/icpy-<uid> is refused, not written into', async () => {
    const tmp = mkdtempSync(join(base, 'tmp-'));
    const squatted = join(tmp, `icpy-${process.getuid!()}`);
    mkdirSync(squatted, { mode: 0o777 });
    chmodSync(squatted, 0o777);
    chownSync(squatted, NOBODY, NOBODY);
    const root = mkdtempSync(join(base, 'tmp-root-'));
    const p = start(process.execPath, [BIN, 'serve', root, '--port', '0'], env({ TMPDIR: tmp }));
    expect((await p.exit).code).toBe(1);
    expect(p.stderr()).toMatch(/refusing the runtime folder/);
    expect(readdirSync(squatted)).toEqual([]);
  });

  it('the CLI ignores a runtime file planted by another user, or with loose permissions, or in a loose folder', async () => {
    const s = await startServer();
    try {
      const planted = (dir: string, mode = 0o600, owner?: number) => {
        const f = join(dir, `server-${process.pid}.json`);
        writeFileSync(f, JSON.stringify({ url: s.url, token: s.token, root: s.root, pid: process.pid, startedAt: 0, version: 't' }), { mode });
        chmodSync(f, mode);
        if (owner !== undefined) chownSync(f, owner, owner);
      };
      const status = (dir: string) => start(process.execPath, [BIN, 'status', '--json'], env({ ICPY_RUNTIME_DIR: dir }), { cwd: s.root });
      // Control: our own 0600 file in our own 0700 folder is trusted.
      const ok = mkdtempSync(join(base, 'cli-ok-'));
      planted(ok);
      const good = status(ok);
      expect((await good.exit).code, good.stderr()).toBe(0);

      const foreignFile = mkdtempSync(join(base, 'cli-ff-'));
      planted(foreignFile, 0o600, NOBODY);
      const looseFile = mkdtempSync(join(base, 'cli-lf-'));
      planted(looseFile, 0o666);
      const looseDir = mkdtempSync(join(base, 'cli-ld-'));
      planted(looseDir);
      chmodSync(looseDir, 0o777);
      const foreignDir = mkdtempSync(join(base, 'cli-fd-'));
      planted(foreignDir);
      chownSync(foreignDir, NOBODY, NOBODY);
      for (const dir of [foreignFile, looseFile, looseDir, foreignDir]) {
        const r = status(dir);
        expect((await r.exit).code, dir).toBe(3);
      }
      const r = status(looseDir);
      await r.exit;
      expect(r.stderr()).toMatch(/runtime files ignored: .* writable by group or others/);
    } finally {
      await s.close();
    }
  });
});

describe('one server per folder', () => {
  it('a second `icpy serve` on the same folder refuses, naming the running one (URL, pid), exit 1', async () => {
    const root = mkdtempSync(join(base, 'lock-'));
    const rt = mkdtempSync(join(base, 'lock-rt-'));
    const a = start(process.execPath, [BIN, 'serve', root, '--port', '0'], env({ ICPY_RUNTIME_DIR: rt }));
    const url = /(http:\/\/[^/]+)\//.exec(await a.line)![1]!;
    const b = start(process.execPath, [BIN, 'serve', root, '--port', '0'], env({ ICPY_RUNTIME_DIR: rt }));
    expect((await b.exit).code).toBe(1);
    expect(b.stderr()).toContain(`pid ${a.child.pid}`);
    expect(b.stderr()).toContain(url);
    expect(readdirSync(rt)).toEqual([`server-${a.child.pid}.json`]);
    a.child.kill('SIGTERM');
    expect((await a.exit).code).toBe(0);
    // Stopped cleanly: the lock is gone and the folder can be served again.
    expect(existsSync(join(root, '.icpy', 'server.lock'))).toBe(false);
  });

  it('a stale lock left by `kill -9` is taken over', async () => {
    const root = mkdtempSync(join(base, 'stale-'));
    const rt = mkdtempSync(join(base, 'stale-rt-'));
    const a = start(process.execPath, [BIN, 'serve', root, '--port', '0'], env({ ICPY_RUNTIME_DIR: rt }));
    await a.line;
    a.child.kill('SIGKILL');
    await a.exit;
    expect(existsSync(join(root, '.icpy', 'server.lock'))).toBe(true);
    const b = start(process.execPath, [BIN, 'serve', root, '--port', '0'], env({ ICPY_RUNTIME_DIR: rt }));
    expect(await b.line).toContain(`serving ${root}`);
    expect(JSON.parse(readFileSync(join(root, '.icpy', 'server.lock'), 'utf8')).pid).toBe(b.child.pid);
    b.child.kill('SIGTERM');
    expect((await b.exit).code).toBe(0);
  });

  it('in-process too: a second createApp on a served root is refused; after close it starts', async () => {
    const root = mkdtempSync(join(base, 'inproc-'));
    const a = await startServer({ root });
    await expect(startServer({ root })).rejects.toThrow(new RegExp(`already served by icpy \\(pid ${process.pid}, ${a.url.replace(/[.]/g, '\\.')}`));
    await a.close();
    const b = await startServer({ root });
    await b.close();
  });
});

describe('.icpy/ ignores itself', () => {
  it('a served git repository shows nothing of .icpy/ in `git status`', async () => {
    const repo = mkdtempSync(join(base, 'git-'));
    execFileSync('git', ['init', '-q', repo]);
    writeFileSync(join(repo, 'a.py'), 'print(1)\n');
    const s = await startServer({ root: repo });
    try {
      await s.call('workspace.setPreferences', { preferences: { theme: 'dark' } }).catch(() => s.call('workspace.get'));
      expect(existsSync(join(repo, '.icpy', 'state.db'))).toBe(true);
      expect(readFileSync(join(repo, '.icpy', '.gitignore'), 'utf8')).toMatch(/^\*$/m);
      const porcelain = execFileSync('git', ['status', '--porcelain', '--untracked-files=all'], { cwd: repo, encoding: 'utf8' });
      expect(porcelain).toBe('?? a.py\n');
    } finally {
      await s.close();
    }
  });
});

describe('icpy serve usage errors', () => {
  it('a missing folder is said not to exist; a file is said not to be a folder', async () => {
    const missing = start(process.execPath, [BIN, 'serve', join(base, 'nope')], env({}));
    expect((await missing.exit).code).toBe(2);
    expect(missing.stderr()).toMatch(/does not exist/);
    const file = join(base, 'plain.txt');
    writeFileSync(file, '');
    const notDir = start(process.execPath, [BIN, 'serve', file], env({}));
    expect((await notDir.exit).code).toBe(2);
    expect(notDir.stderr()).toMatch(/is not a folder/);
  });
});
