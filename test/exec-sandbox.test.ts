import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBubblewrap, sandboxCommand, sandboxHidePaths, type SandboxSpec } from '../src/services/exec/sandbox.js';
import { connect, rpcError, startServer, type TestServer } from './helpers/server.js';
import { until } from './helpers/until.js';

/**
 * The sandbox with the real bubblewrap: what `sandboxCommand` builds is spawned as the exec
 * service spawns it (its own process group, exactly the env it returns).
 */
const bwrap = findBubblewrap();
if (!bwrap) throw new Error('bubblewrap is required for these tests (apt-get install -y bubblewrap)');

const REPO = resolve(__dirname, '..');
const base = realpathSync(mkdtempSync(join(tmpdir(), 'icpy-sbx-')));
const root = join(base, 'ws');
const runtimeInRoot = join(root, '.run');
const runtimeInTmp = join(base, 'runtime');
const TOKEN = 'sbx-token-' + Math.random().toString(36).slice(2);

function which(cmd: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return realpathSync(p);
    } catch {
      /* next */
    }
  }
  throw new Error(`${cmd} not on PATH`);
}

interface Result {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

function run(command: string[], over: Partial<SandboxSpec> = {}, options: { sandbox?: boolean; parentEnv?: Record<string, string> } = {}): Promise<Result> {
  const spec: SandboxSpec = {
    root,
    cwd: root,
    command,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp/home', LANG: 'C.UTF-8', ICPY_TOKEN: TOKEN },
    hide: sandboxHidePaths({ root, runtimeDir: runtimeInRoot, extra: [runtimeInTmp] }),
    ...over,
  };
  const inv = options.sandbox === false ? { file: command[0]!, args: command.slice(1), env: spec.env } : sandboxCommand(spec, bwrap!);
  return new Promise((res, rej) => {
    const child = spawn(inv.file, inv.args, { cwd: spec.cwd, env: { ...inv.env, ...options.parentEnv }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', rej);
    child.on('close', (code, signal) => res({ code, signal, stdout, stderr }));
  });
}

const sh = (script: string, over?: Partial<SandboxSpec>) => run(['/bin/bash', '-c', script], over);

beforeAll(() => {
  mkdirSync(join(root, '.icpy'), { recursive: true });
  writeFileSync(join(root, '.icpy', 'state.db'), `db holding ${TOKEN}`);
  for (const dir of [runtimeInRoot, runtimeInTmp]) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'server-1.json'), JSON.stringify({ token: TOKEN }), { mode: 0o600 });
  }
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe('sandbox (real bubblewrap)', () => {
  it('can write inside the workspace; the file is there on the host', async () => {
    const r = await sh('echo inside > made.txt && mkdir -p d && echo x > d/y && cat made.txt');
    expect(r).toMatchObject({ code: 0, stdout: 'inside\n' });
    expect(readFileSync(join(root, 'made.txt'), 'utf8')).toBe('inside\n');
    expect(readFileSync(join(root, 'd', 'y'), 'utf8')).toBe('x\n');
  });

  it('cannot write outside the workspace: the rest is read-only and /tmp is private', async () => {
    const sibling = join(base, 'outside.txt');
    const r = await sh(
      `for p in /etc/icpy-sbx-probe /var/tmp/icpy-sbx-probe /root/icpy-sbx-probe "${REPO}/icpy-sbx-probe"; do if echo x > "$p"; then echo "WROTE $p"; fi; done; echo x > ${sibling} && echo tmp-ok`,
    );
    expect(r.stdout).not.toContain('WROTE');
    expect(r.stderr).toContain('Read-only file system');
    expect(r.stdout).toContain('tmp-ok'); // its own /tmp is writable…
    expect(existsSync(sibling)).toBe(false); // …and not the host's
    for (const p of ['/etc/icpy-sbx-probe', '/var/tmp/icpy-sbx-probe', join(REPO, 'icpy-sbx-probe')]) expect(existsSync(p)).toBe(false);
  });

  it("cannot read .icpy/, the runtime file (in the workspace or under /tmp) or the token in any process's env or command line", async () => {
    const r = await sh(
      `cat .icpy/state.db; ls -A .icpy; cat .run/server-1.json; ls -A .run; cat ${runtimeInTmp}/server-1.json; ` +
        `echo "env:$(env | grep -c ICPY_)"; grep -l -a "${TOKEN}" /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null; echo end`,
    );
    // /proc/1 inside is bwrap's own init: it holds the env bwrap was spawned with, so that env must be the cleaned one
    expect(r.stdout).not.toContain(TOKEN);
    expect(r.stdout).toContain('env:0');
    expect(r.stdout.trim().endsWith('end')).toBe(true);
    expect(r.stderr).toContain('No such file or directory');
    // the host still has them
    expect(readFileSync(join(root, '.icpy', 'state.db'), 'utf8')).toContain(TOKEN);
  });

  it('has no capabilities and its own session (no TIOCSTI into a terminal of the server)', async () => {
    // session id 1 = a session made inside the sandbox (by bwrap's init); one inherited from outside shows as 0
    const r = await sh(`grep CapEff /proc/self/status; [ "$(cut -d' ' -f6 /proc/$$/stat)" = "1" ] && echo own-session; hostname`);
    expect(r.stdout).toBe('CapEff:\t0000000000000000\nown-session\nicpy-sandbox\n');
  });

  it('cannot write into the masked .icpy/', async () => {
    const r = await sh('echo x > .icpy/new && echo WROTE');
    expect(r.stdout).not.toContain('WROTE');
    expect(existsSync(join(root, '.icpy', 'new'))).toBe(false);
  });

  it('runs python3, node, bash and TypeScript (tsx from icpy itself) inside', async () => {
    writeFileSync(join(root, 'hello.ts'), 'const n: number = 6 * 7;\nconsole.log(`ts ${n}`);\n');
    const python = await run([which('python3'), '-c', 'import sys; print("py", sys.version_info[0])']);
    expect(python).toMatchObject({ code: 0, stdout: 'py 3\n' });
    const node = await run([which('node'), '-e', 'console.log("js", 1 + 1)']);
    expect(node).toMatchObject({ code: 0, stdout: 'js 2\n' });
    const bash = await run([which('bash'), '-c', 'echo sh $((2+3))']);
    expect(bash).toMatchObject({ code: 0, stdout: 'sh 5\n' });
    const ts = await run([which('node'), join(REPO, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(root, 'hello.ts')], { extraReadOnly: [join(REPO, 'node_modules')] });
    expect(ts.stderr).toBe('');
    expect(ts).toMatchObject({ code: 0, stdout: 'ts 42\n' });
  });

  it('runs a code file kept in a private temp folder outside the workspace', async () => {
    const codeDir = mkdtempSync(join(base, 'code-'));
    writeFileSync(join(codeDir, 'main.py'), 'print("from temp")\n');
    const r = await run([which('python3'), join(codeDir, 'main.py')]);
    expect(r).toMatchObject({ code: 0, stdout: 'from temp\n' });
  });

  describe('network', () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startServer();
    });
    afterAll(async () => {
      await s.close();
    });

    it("cannot open a connection, not even to the server's own loopback port", async () => {
      const port = new URL(s.url).port;
      const probe = `require('net').connect(${port}, '127.0.0.1').on('connect', () => { console.log('CONNECTED'); process.exit(0); }).on('error', (e) => { console.log('ERR', e.code); process.exit(3); });`;
      const node = which('node');
      // Control: the same probe without the sandbox reaches the server.
      const plain = await run([node, '-e', probe], {}, { sandbox: false });
      expect(plain.stdout).toContain('CONNECTED');
      const boxed = await run([node, '-e', probe]);
      expect(boxed.stdout).not.toContain('CONNECTED');
      expect(boxed.stdout).toContain('ERR ECONNREFUSED');
      // its network namespace has loopback only (/proc/net is per namespace; /sys is the host's, read-only)
      const lo = await sh("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '");
      expect(lo.stdout.trim()).toBe('lo');
    });
  });

  it('killing the process group kills everything inside, a grandchild that ignores SIGTERM included', async () => {
    const marker = 'icpy-sbx-kill-' + Math.random().toString(36).slice(2);
    const inv = sandboxCommand(
      { root, cwd: root, command: ['/bin/bash', '-c', `(trap '' TERM; exec -a ${marker} sleep 300) & (trap '' TERM; exec -a ${marker} sleep 300) & wait`], env: { PATH: '/usr/bin:/bin' }, hide: [] },
      bwrap,
    );
    const child = spawn(inv.file, inv.args, { env: inv.env, stdio: 'ignore', detached: true });
    const closed = new Promise((r) => child.on('close', r));
    const hosts = () => readdirSync('/proc').filter((p) => /^\d+$/.test(p) && cmdline(p).startsWith(marker));
    await until(() => hosts().length === 2, 'both sleeps running');
    process.kill(-child.pid!, 'SIGTERM');
    await closed;
    await until(() => hosts().length === 0, 'no sandboxed process left');
  });
});

/** The same guarantees through the server: exec.run {sandbox: true} as a client runs it. */
describe('exec.run {sandbox: true} (real bubblewrap, through the server)', () => {
  let s: TestServer;
  let runtime: string;
  beforeAll(async () => {
    const wsRoot = realpathSync(mkdtempSync(join(tmpdir(), 'icpy-sbx-e2e-')));
    runtime = join(wsRoot, '.runtime'); // inside the workspace, so only the mask keeps it away
    mkdirSync(runtime, { mode: 0o700 });
    s = await startServer({ root: wsRoot, runtimeDir: runtime });
    writeFileSync(join(runtime, `server-${process.pid}.json`), JSON.stringify({ url: s.url, token: s.token }), { mode: 0o600 });
  });
  afterAll(async () => {
    await s.close();
    rmSync(s.root, { recursive: true, force: true });
  });

  it('writes inside the workspace, not outside', async () => {
    const code = [
      'import os',
      'open("inside.txt", "w").write("ok")',
      'for p in ["/etc/icpy-sbx-e2e", "/var/tmp/icpy-sbx-e2e", os.path.dirname(os.getcwd()) + "/icpy-sbx-e2e"]:',
      '    try:',
      '        open(p, "w").write("x"); print("WROTE", p)',
      '    except OSError as e:',
      '        print("refused", e.errno)',
    ].join('\n');
    const r = await s.call('exec.run', { language: 'python', code, sandbox: true, wait: true });
    expect(r.exitCode).toBe(0);
    // /etc and /var/tmp are read-only (EROFS = 30); the workspace's parent is under /tmp here, which is the run's private one
    expect(r.stdout.match(/refused 30/g)).toHaveLength(2);
    expect(r.stdout).not.toContain('WROTE /etc');
    expect(r.stdout).not.toContain('WROTE /var');
    expect(readFileSync(join(s.root, 'inside.txt'), 'utf8')).toBe('ok');
    expect(existsSync(join(dirname(s.root), 'icpy-sbx-e2e'))).toBe(false);
  });

  it('cannot read the token, the runtime file or .icpy/', async () => {
    const prev = process.env.ICPY_TOKEN;
    process.env.ICPY_TOKEN = s.token; // as a server started with ICPY_TOKEN has it: nothing of that env may reach the run
    try {
      const code = `cat .runtime/*.json; ls -A .runtime .icpy; cat .icpy/* 2>&1 | head -c 200; env; grep -l -a "${s.token}" /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null; echo end`;
      const r = await s.call('exec.run', { language: 'bash', code, sandbox: true, wait: true });
      expect(r.stdout + r.stderr).not.toContain(s.token);
      expect(r.stdout).not.toContain('ICPY_TOKEN');
      expect(r.stdout).toContain('ICPY_EXEC_ID=');
      expect(r.stdout.trim().endsWith('end')).toBe(true);
      expect(readdirSync(join(s.root, '.icpy')).length).toBeGreaterThan(0); // there on the host
    } finally {
      if (prev === undefined) delete process.env.ICPY_TOKEN;
      else process.env.ICPY_TOKEN = prev;
    }
  });

  it("cannot connect to the server's own loopback port (the same code unsandboxed can)", async () => {
    const port = new URL(s.url).port;
    const code = `require('net').connect(${port}, '127.0.0.1').on('connect', () => { console.log('CONNECTED'); process.exit(0); }).on('error', (e) => { console.log('ERR', e.code); process.exit(3); });`;
    const plain = await s.call('exec.run', { language: 'javascript', code, wait: true });
    expect(plain.stdout).toContain('CONNECTED');
    const boxed = await s.call('exec.run', { language: 'javascript', code, sandbox: true, wait: true });
    expect(boxed).toMatchObject({ exitCode: 3, stdout: 'ERR ECONNREFUSED\n' });
  });

  it('runs each language sandboxed: prints, reads stdin, exits with a code (typescript through icpy\'s tsx)', async () => {
    for (const [language, code] of [
      ['python', 'import sys\nprint("hi " + sys.stdin.read().strip())\nsys.exit(4)'],
      ['javascript', 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => { console.log("hi " + s.trim()); process.exit(4); });'],
      ['typescript', 'let s: string = ""; process.stdin.on("data", (d: Buffer) => (s += d)).on("end", () => { console.log("hi " + s.trim()); process.exit(4); });'],
      ['bash', 'read -r x; echo "hi $x"; exit 4'],
    ]) {
      const r = await s.call('exec.run', { language, code, stdin: 'there\n', sandbox: true, wait: true });
      expect({ language, ...r }).toMatchObject({ language, exitCode: 4, stdout: 'hi there\n' });
    }
  });

  it('a timeout kills the sandboxed grandchild that ignores SIGTERM', async () => {
    const marker = 'icpy-sbx-e2e-' + Math.random().toString(36).slice(2);
    const code = `(trap '' TERM; exec -a ${marker} sleep 300) & echo started; wait`;
    const r = await s.call('exec.run', { language: 'bash', code, sandbox: true, wait: true, timeoutMs: 1500 });
    expect(r.timedOut).toBe(true);
    await until(() => !readdirSync('/proc').some((p) => /^\d+$/.test(p) && cmdline(p).startsWith(marker)), 'no sandboxed sleep left');
  });

  it('memory and CPU limits hold inside the sandbox, and its CPU time is reported', async () => {
    const mem = await s.call('exec.run', { language: 'python', code: 'x = []\nwhile True: x.append(bytearray(1 << 20))', memoryMb: 200, sandbox: true, wait: true, timeoutMs: 30_000 });
    expect(mem.timedOut).toBe(false);
    expect(mem.exitCode).not.toBe(0);
    expect(mem.stderr).toContain('MemoryError');
    const cpu = await s.call('exec.run', { language: 'bash', code: 'while :; do :; done', cpuSeconds: 1, sandbox: true, wait: true, timeoutMs: 30_000 });
    expect(cpu.timedOut).toBe(false);
    expect(cpu.exitCode === 0 && cpu.signal === null).toBe(false);
    expect(cpu.cpuMs).toBeGreaterThan(500); // the 1 s it was allowed (0 when the rusage was lost)
  });

  it('sandboxes agents by default when the server says so; others are not', async () => {
    const t = await startServer({ exec: { sandboxAgents: 1 } });
    const agent = await connect(t, { kind: 'agent', name: 'bot' });
    const browser = await connect(t, { kind: 'browser' });
    try {
      const probe = { language: 'bash', code: 'hostname', wait: true };
      expect((await agent.call('exec.run', probe)).stdout).toBe('icpy-sandbox\n');
      expect((await agent.call('exec.run', { ...probe, sandbox: false })).stdout).not.toBe('icpy-sandbox\n');
      expect((await browser.call('exec.run', probe)).stdout).not.toBe('icpy-sandbox\n');
    } finally {
      await agent.close();
      await browser.close();
      await t.close();
    }
  });
});

describe('exec.run {sandbox: true} without bubblewrap', () => {
  it('fails with SANDBOX_UNAVAILABLE and never runs the code unsandboxed', async () => {
    const t = await startServer({ exec: { bwrapPath: join(base, 'no-such-dir', 'bwrap') } });
    try {
      for (const wait of [true, false]) {
        const err = await rpcError(t.call('exec.run', { language: 'bash', code: 'echo ran > ran.txt', sandbox: true, wait }));
        expect(err.code).toBe(-32051);
        expect(err.data).toMatchObject({ code: 'SANDBOX_UNAVAILABLE' });
        expect(err.message).toContain('apt-get install -y bubblewrap');
      }
      // unsandboxed runs still work, and the refused ones left no trace
      expect((await t.call('exec.run', { language: 'bash', code: 'echo fine', wait: true })).stdout).toBe('fine\n');
      expect(existsSync(join(t.root, 'ran.txt'))).toBe(false);
    } finally {
      await t.close();
    }
  });
});

function cmdline(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}
