import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, startServer, type TestServer } from './helpers/server.js';
import { until } from './helpers/until.js';

/**
 * The built `icpy` command run as a subprocess against a real in-process server.
 * Needs `npm run build` first (npm test does it).
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'icpy.js');

interface Run {
  code: number | null;
  stdout: string;
  stdoutBytes: Buffer;
  stderr: string;
}

/** Environment without any ICPY_* of the parent, with an empty runtime folder. */
function cleanEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ICPY_') && k !== 'NO_COLOR') env[k] = v;
  return { ...env, ...extra };
}

/** Start the CLI; `done` settles when it exits; `stdout()` is what it printed so far. */
function startCli(args: string[], opts: { env: NodeJS.ProcessEnv; cwd?: string; input?: string | Buffer; timeoutMs?: number }) {
  const child = spawn(process.execPath, [BIN, ...args], { env: opts.env, cwd: opts.cwd ?? ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const chunks: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => {
    chunks.push(d);
    stdout += d;
  });
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<Run>((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`icpy ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr, stdoutBytes: Buffer.concat(chunks) });
    });
  });
  child.stdin.end(opts.input ?? '');
  return { child, done, stdout: () => stdout };
}

function runCli(args: string[], opts: { env: NodeJS.ProcessEnv; cwd?: string; input?: string | Buffer; timeoutMs?: number }): Promise<Run> {
  return startCli(args, opts).done;
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('icpy CLI startup stays light', () => {
  it('the client loads no server module: only its own folder, node: built-ins, ws and diff', () => {
    const seen = new Set<string>();
    const bare = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:from\s*|import\(\s*)['"]([^'"]+)['"]/g)) {
        const spec = m[1]!;
        if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
        else bare.add(spec);
      }
    };
    visit(join(ROOT, 'dist', 'transports', 'cli', 'main.js'));
    const outside = [...seen].filter((f) => !f.startsWith(join(ROOT, 'dist', 'transports', 'cli')));
    expect(outside).toEqual([]);
    // `diff` (pure JS, no server code) is loaded on demand by `icpy edit --patch` only; the MCP
    // SDK's stdio server and HTTP client transports by `icpy mcp` only.
    expect([...bare].filter((b) => !b.startsWith('node:')).sort()).toEqual([
      '@modelcontextprotocol/sdk/client/streamableHttp.js',
      '@modelcontextprotocol/sdk/server/stdio.js',
      'diff',
      'ws',
    ]);
  });
});

describe('icpy CLI', () => {
  let s: TestServer;
  let runtimeDir: string;
  let env: NodeJS.ProcessEnv;
  const icpy = (args: string[], opts: { cwd?: string; input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}) => runCli(args, { env: opts.env ?? env, cwd: opts.cwd, input: opts.input });

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'transports', 'cli', 'main.js'))) throw new Error('run `npm run build` before this test');
    s = await startServer();
    runtimeDir = mkdtempSync(join(tmpdir(), 'icpy-cli-rt-'));
    env = cleanEnv({ ICPY_URL: s.url, ICPY_TOKEN: s.token, ICPY_RUNTIME_DIR: runtimeDir });
  });
  afterAll(async () => {
    await s?.close();
    rmSync(runtimeDir, { recursive: true, force: true });
  });

  describe('server discovery and exit codes', () => {
    it('no server: exit 3 with a one-line hint to start one', async () => {
      const r = await icpy(['status'], { env: cleanEnv({ ICPY_RUNTIME_DIR: runtimeDir }), cwd: s.root });
      expect(r.code).toBe(3);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain('npx icpy serve .');
    });

    it('server not listening: exit 3', async () => {
      const r = await icpy(['status'], { env: cleanEnv({ ICPY_URL: 'http://127.0.0.1:9', ICPY_TOKEN: 'x', ICPY_RUNTIME_DIR: runtimeDir }) });
      expect(r.code).toBe(3);
      expect(r.stderr).toContain('npx icpy serve .');
    });

    it('finds the server from its runtime file when run in a subfolder of the served root', async () => {
      const rt = mkdtempSync(join(tmpdir(), 'icpy-cli-rt2-'));
      try {
        const sub = join(s.root, 'deep', 'er');
        mkdirSync(sub, { recursive: true });
        // A live server serving the root, and a decoy for another folder (the root must contain cwd).
        writeFileSync(join(rt, `server-${process.pid}.json`), JSON.stringify({ url: s.url, token: s.token, root: s.root, pid: process.pid, startedAt: Date.now(), version: 'test' }), { mode: 0o600 });
        writeFileSync(join(rt, `server-${process.ppid}.json`), JSON.stringify({ url: 'http://127.0.0.1:9', token: 'nope', root: tmpdir() + '/elsewhere', pid: process.ppid, startedAt: Date.now(), version: 'test' }), { mode: 0o600 });
        const r = await icpy(['status', '--json'], { env: cleanEnv({ ICPY_RUNTIME_DIR: rt }), cwd: sub });
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        const st = JSON.parse(r.stdout);
        expect(st.via).toBe('runtime-file');
        expect(st.server.root).toBe(s.root);
        // Outside that root: no server for this folder.
        const r2 = await icpy(['status'], { env: cleanEnv({ ICPY_RUNTIME_DIR: rt }), cwd: tmpdir() });
        expect(r2.code).toBe(3);
      } finally {
        rmSync(rt, { recursive: true, force: true });
      }
    });

    it('a wrong token is a failed call (exit 1, UNAUTHORIZED)', async () => {
      const r = await icpy(['call', 'server.info'], { env: { ...env, ICPY_TOKEN: 'wrong' } });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('UNAUTHORIZED');
    });

    it('usage errors exit 2', async () => {
      for (const args of [['no-such-command'], ['call'], ['status', '--bogus-flag'], ['events', '--since', 'x'], ['write'], []]) {
        const r = await icpy(args);
        expect(r.code, `icpy ${args.join(' ')}`).toBe(2);
        expect(r.stderr).toMatch(/icpy|Usage/);
      }
    });

    it('--help exits 0', async () => {
      const r = await icpy(['--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Exit codes');
      const r2 = await icpy(['cat', '--help']);
      expect(r2.code).toBe(0);
      expect(r2.stdout).toContain('Usage: icpy cat');
    });
  });

  describe('call, help, status', () => {
    it('calls an arbitrary method (JSON, key=value and key:=json params)', async () => {
      const r = await icpy(['call', 'server.info', '--json']);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ name: 'icpy', root: s.root });
      const r2 = await icpy(['call', 'events.emit', '{"topic":"client.cli.test","data":{"n":1}}', '--json']);
      expect(r2.code).toBe(0);
      const { seq } = JSON.parse(r2.stdout);
      const r3 = await icpy(['call', 'events.history', `since:=${seq - 1}`, 'patterns:=["client.cli.*"]', '--json']);
      const h = JSON.parse(r3.stdout);
      expect(h.events[0]).toMatchObject({ topic: 'client.cli.test', data: { n: 1 }, source: { kind: 'cli' } });
    });

    it('the caller shows as kind cli, or agent with --agent', async () => {
      const r = await icpy(['call', 'connections.whoami', '--json']);
      expect(JSON.parse(r.stdout)).toMatchObject({ kind: 'cli', transport: 'http' });
      const r2 = await icpy(['call', 'connections.whoami', '--json', '--agent', 'claude']);
      expect(JSON.parse(r2.stdout)).toMatchObject({ kind: 'agent', name: 'claude' });
    });

    it('bad params are a usage error naming the field; unknown methods too', async () => {
      const r = await icpy(['call', 'events.history', 'since=zero']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('INVALID_PARAMS');
      expect(r.stderr).toContain('since');
      const r2 = await icpy(['call', 'no.suchMethod']);
      expect(r2.code).toBe(2);
      expect(r2.stderr).toContain('METHOD_NOT_FOUND');
    });

    it('help METHOD prints the params from rpc.discover', async () => {
      const r = await icpy(['help', 'events.history']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/since\s+integer\s+yes/);
      const r2 = await icpy(['call', '--help']);
      expect(r2.code).toBe(0);
      const r3 = await icpy(['methods', '--json']);
      expect(JSON.parse(r3.stdout).map((m: { name: string }) => m.name)).toContain('server.info');
    });

    it('status lists connections with kind and name', async () => {
      const c = await connect(s, { kind: 'browser', name: 'Alice in Firefox' });
      try {
        const r = await icpy(['status']);
        expect(r.code).toBe(0);
        expect(r.stdout).toContain(s.root);
        expect(r.stdout).toMatch(/browser\s+Alice in Firefox/);
        const j = JSON.parse((await icpy(['status', '--json'])).stdout);
        expect(j.connections).toContainEqual(expect.objectContaining({ kind: 'browser', name: 'Alice in Firefox' }));
      } finally {
        await c.close();
      }
    });
  });

  describe('files', () => {
    it('write then cat round trip; a stale --expect-version fails with exit 1 and the conflict', async () => {
      mkdirSync(join(s.root, 'notes'), { recursive: true });
      const cwd = join(s.root, 'notes');
      const w = await icpy(['write', 'a.txt', '--json'], { cwd, input: 'first\n' });
      expect(w.stderr).toBe('');
      expect(w.code).toBe(0);
      const v1 = JSON.parse(w.stdout).version;
      expect(JSON.parse(w.stdout).path).toBe('notes/a.txt');
      const c = await icpy(['cat', 'a.txt'], { cwd });
      expect(c.code).toBe(0);
      expect(c.stdout).toBe('first\n');
      // Safe edit at the current version succeeds…
      const w2 = await icpy(['write', 'a.txt', '--expect-version', v1], { cwd, input: 'second\n' });
      expect(w2.code).toBe(0);
      expect(w2.stdout).toMatch(/wrote notes\/a.txt .*version/);
      // …and a second edit still holding v1 is refused.
      const w3 = await icpy(['write', 'a.txt', '--expect-version', v1], { cwd, input: 'third\n' });
      expect(w3.code).toBe(1);
      expect(w3.stderr).toMatch(/^icpy: VERSION_CONFLICT: /);
      // Run from outside the root (as against a remote server), a relative path is root-relative.
      const remote = await icpy(['cat', 'notes/a.txt'], { cwd: tmpdir() });
      expect(remote.code).toBe(0);
      expect(remote.stdout).toBe('second\n');
    });

    it('ls, mkdir, mv, cp, rm, and binary content', async () => {
      const cwd = s.root;
      expect((await icpy(['mkdir', 'd1/d2'], { cwd })).code).toBe(0);
      const bin = Buffer.from([0, 0xff, 1, 0xc3]); // not UTF-8: sent as base64
      expect((await icpy(['write', 'd1/x.bin'], { cwd, input: bin })).code).toBe(0);
      expect(readFileSync(join(cwd, 'd1', 'x.bin'))).toEqual(bin);
      expect((await icpy(['cat', 'd1/x.bin'], { cwd })).stdoutBytes).toEqual(bin);
      expect((await icpy(['cp', 'd1/x.bin', 'd1/y.bin'], { cwd })).code).toBe(0);
      expect((await icpy(['mv', 'd1/y.bin', 'd1/d2/z.bin'], { cwd })).code).toBe(0);
      const ls = await icpy(['ls', 'd1'], { cwd });
      expect(ls.stdout.split('\n')).toEqual(['d2/', 'x.bin', '']);
      const lsj = JSON.parse((await icpy(['ls', '--json'], { cwd: join(cwd, 'd1', 'd2') })).stdout);
      expect(lsj.entries.map((e: { name: string }) => e.name)).toEqual(['z.bin']);
      const exists = await icpy(['cp', 'd1/x.bin', 'd1/d2/z.bin'], { cwd });
      expect(exists.code).toBe(1);
      expect(exists.stderr).toContain('FILE_EXISTS');
      const notEmpty = await icpy(['rm', 'd1'], { cwd });
      expect(notEmpty.code).toBe(1);
      expect(notEmpty.stderr).toContain('DIRECTORY_NOT_EMPTY');
      expect((await icpy(['rm', '-r', 'd1'], { cwd })).code).toBe(0);
      expect(existsSync(join(cwd, 'd1'))).toBe(false);
    });
  });

  describe('search and find', () => {
    it('prints FILE:LINE:COL: text relative to the current folder, scoped to it', async () => {
      mkdirSync(join(s.root, 'lib', 'deep'), { recursive: true });
      writeFileSync(join(s.root, 'lib', 'deep', 'mod.py'), 'def foo():\n    return NEEDLE_1\n');
      writeFileSync(join(s.root, 'top-needle.txt'), 'NEEDLE_1 at the top\n');
      const all = await icpy(['search', 'NEEDLE_1'], { cwd: s.root });
      expect(all.code).toBe(0);
      expect(all.stdout.trim().split('\n').sort()).toEqual(['lib/deep/mod.py:2:12:     return NEEDLE_1', 'top-needle.txt:1:1: NEEDLE_1 at the top']);
      const sub = await icpy(['search', 'needle_1'], { cwd: join(s.root, 'lib') });
      expect(sub.stdout).toBe('deep/mod.py:2:12:     return NEEDLE_1\n');
      const none = await icpy(['search', 'no-such-text-anywhere'], { cwd: s.root });
      expect(none).toMatchObject({ code: 0, stdout: '' });
      const j = JSON.parse((await icpy(['search', 'def \\w+', '--regex', '--json'], { cwd: s.root })).stdout);
      expect(j.results).toContainEqual(expect.objectContaining({ path: 'lib/deep/mod.py', line: 1 }));
      const found = await icpy(['find', 'deepmod'], { cwd: s.root });
      expect(found.stdout.split('\n')[0]).toBe('lib/deep/mod.py');
    });
  });

  describe('open and workspace', () => {
    it('icpy open (and icpy FILE:LINE) make a connected editor receive workspace.file.opened', async () => {
      const browser = await connect(s, { kind: 'browser', name: 'editor' });
      try {
        await browser.call('events.subscribe', { patterns: ['workspace.file.*'] });
        writeFileSync(join(s.root, 'main.py'), 'print(1)\n');
        const r = await icpy(['open', 'main.py', '--agent', 'claude'], { cwd: s.root });
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        const ev = await browser.waitFor(() => browser.events().find((e) => e.topic === 'workspace.file.opened' && e.data.path === 'main.py'));
        expect(ev.source).toMatchObject({ kind: 'agent', name: 'claude' });
        const r2 = await icpy(['main.py:12:3'], { cwd: s.root });
        expect(r2.code).toBe(0);
        const ev2 = await browser.waitFor(() => browser.events().find((e) => e.topic === 'workspace.file.opened' && e.data.line === 12));
        expect(ev2.data).toMatchObject({ path: 'main.py', line: 12, column: 3, alreadyOpen: true });
        expect(ev2.source.kind).toBe('cli');
        const ws = await icpy(['workspace', '--json']);
        expect(JSON.parse(ws.stdout).state.editors.value).toMatchObject({ active: 'main.py' });
        const human = await icpy(['workspace']);
        expect(human.stdout).toMatch(/\* main\.py/);
        expect((await icpy(['workspace', 'close', 'main.py'], { cwd: s.root })).code).toBe(0);
        await browser.waitFor(() => browser.events().find((e) => e.topic === 'workspace.file.closed'));
      } finally {
        await browser.close();
      }
    });

    it('workspace layouts: save and switch', async () => {
      expect((await icpy(['workspace', 'save', 'wide'])).code).toBe(0);
      expect((await icpy(['workspace', 'switch', 'wide'])).code).toBe(0);
      expect(JSON.parse((await icpy(['workspace', 'layouts', '--json'])).stdout).saved).toContain('wide');
      const bad = await icpy(['workspace', 'switch', 'no-such-layout']);
      expect(bad.code).toBe(1);
      expect((await icpy(['workspace', 'frobnicate'])).code).toBe(2);
    });
  });

  describe('terminal', () => {
    it('new, ls, send, run, kill', async () => {
      const created = await icpy(['terminal', 'new', '--name', 'cli-made', '--shell', '/bin/sh', '--json'], { cwd: s.root });
      expect(created.code).toBe(0);
      const t = JSON.parse(created.stdout);
      expect(t).toMatchObject({ name: 'cli-made', status: 'running' });
      const ls = await icpy(['terminal', 'ls']);
      expect(ls.stdout).toMatch(new RegExp(`${t.id}\\s+cli-made`));
      expect((await icpy(['terminal', 'send', t.id, 'echo sent\r'])).code).toBe(0);
      const ok = await icpy(['terminal', 'run', 'echo out-$((6*7))'], { cwd: s.root });
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain('out-42');
      const bad = await icpy(['terminal', 'run', 'exit 3'], { cwd: s.root });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('exit code 3');
      expect((await icpy(['terminal', 'kill', t.id])).code).toBe(0);
      const gone = await icpy(['terminal', 'kill', t.id]);
      expect(gone.code).toBe(1);
      expect(gone.stderr).toContain('TERMINAL_NOT_FOUND');
    });

    it('attach under a pseudo-terminal: keystrokes in, echo out, resize, detach, re-attach with the missed output', async () => {
      const pty = await import('node-pty');
      const t = await s.call('terminal.create', { cols: 80, rows: 24, shell: '/bin/bash', args: ['--norc', '--noprofile'], env: { PS1: '$ ' } });
      const attached = async () => ((await s.call('terminal.list')).terminals.find((x: { id: string }) => x.id === t.id)?.attached ?? 0) > 0;
      const attach = () => {
        const p = pty.spawn(process.execPath, [BIN, 'terminal', t.id], { cwd: s.root, env: env as Record<string, string>, cols: 80, rows: 24 });
        let out = '';
        p.onData((d) => (out += d));
        const exited = new Promise<number>((r) => p.onExit((e) => r(e.exitCode)));
        return { p, out: () => out, exited };
      };
      try {
        const a = attach();
        await until(async () => a.out().includes('attached to') && (await attached()), 'the first attach');
        a.p.write('echo typed-$((40+2))\r');
        await until(() => a.out().includes('typed-42'), 'the echo of typed keystrokes');
        // The window grows: the terminal follows (SIGWINCH → terminal.resize).
        a.p.resize(100, 40);
        await until(async () => (await s.call('terminal.list')).terminals.find((x: { id: string }) => x.id === t.id)?.cols === 100, 'the resize');
        // Detach key, split over two reads.
        a.p.write('\x1d');
        a.p.write('d');
        expect(await a.exited).toBe(0);
        expect(a.out()).toContain(`detached from ${t.id}`);
        await until(async () => !(await attached()), 'the detach');

        // Output produced while nobody is attached…
        await s.call('terminal.write', { id: t.id, data: 'echo away-$((1+1))\r' });
        // …is shown on re-attach, once, after the screen is repainted from what was on it before.
        const b = attach();
        await until(() => b.out().includes('away-2'), 'the missed output after re-attach');
        expect(b.out()).toContain('typed-42');
        expect(b.out().split('away-2')).toHaveLength(2);
        b.p.write('\x1dd');
        expect(await b.exited).toBe(0);
      } finally {
        await s.call('terminal.close', { id: t.id }).catch(() => undefined);
      }
    });
  });

  describe('events', () => {
    it('prints events produced by another client, one JSON object per line', async () => {
      const run = startCli(['events', 'client.demo.**', '--count', '2', '--name', 'watcher'], { env });
      // Wait until the CLI's subscription is live on the server.
      await until(() => s.app.connections.list().find((c) => c.name === 'watcher' && c.subscriptions > 0), 'the CLI to subscribe');
      const other = await connect(s, { kind: 'browser', name: 'Bob' });
      try {
        await other.call('events.emit', { topic: 'client.other.ignored', data: 0 });
        await other.call('events.emit', { topic: 'client.demo.one', data: { n: 1 } });
        await other.call('events.emit', { topic: 'client.demo.two', data: { n: 2 } });
        const r = await run.done;
        expect(r.code).toBe(0);
        const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
        expect(lines.map((e) => e.topic)).toEqual(['client.demo.one', 'client.demo.two']);
        expect(lines[0]).toMatchObject({ data: { n: 1 }, source: { kind: 'browser', name: 'Bob' } });
        expect(lines[1].seq).toBeGreaterThan(lines[0].seq);
      } finally {
        await other.close();
      }
    });

    it('--since replays missed events first', async () => {
      const { seq } = await s.call('events.emit', { topic: 'client.replay.a', data: 'a' });
      await s.call('events.emit', { topic: 'client.replay.b', data: 'b' });
      const r = await icpy(['events', 'client.replay.*', '--since', String(seq - 1), '--count', '2']);
      expect(r.code).toBe(0);
      expect(r.stdout.trim().split('\n').map((l) => JSON.parse(l).data)).toEqual(['a', 'b']);
    });

    it('survives a server restart: reconnects and prints what the new server published meanwhile', async () => {
      const port = await freePort();
      const token = 'restart-token';
      let a: TestServer | undefined = await startServer({ port, token });
      let b: TestServer | undefined;
      const url = `http://127.0.0.1:${port}`;
      const run = startCli(['events', 'client.rs.**', '--count', '3', '--name', 'follower'], {
        env: { ...env, ICPY_URL: url, ICPY_TOKEN: token },
        timeoutMs: 20_000,
      });
      try {
        await until(() => a!.app.connections.list().find((c) => c.name === 'follower' && c.subscriptions > 0), 'the CLI to subscribe');
        await a.call('events.emit', { topic: 'client.rs.before', data: 1 });
        await until(() => run.stdout().includes('client.rs.before'), 'the first event');
        await a.close();
        a = undefined;
        b = await startServer({ port, token });
        // Published before the CLI is back: it must still print them, in order.
        await b.call('events.emit', { topic: 'client.rs.after', data: 2 });
        await b.call('events.emit', { topic: 'client.rs.after', data: 3 });
        const r = await run.done;
        expect(r.code).toBe(0);
        expect(r.stdout.trim().split('\n').map((l) => JSON.parse(l).data)).toEqual([1, 2, 3]);
        expect(r.stderr).toMatch(/reconnect/);
      } finally {
        await a?.close();
        await b?.close();
      }
    });

    it('--since older than the kept history: exit 1 with EVENTS_GAP and the oldest seq', async () => {
      const small = await startServer({ historyEvents: 3 });
      try {
        for (let i = 0; i < 10; i++) await small.call('events.emit', { topic: 'client.fill', data: i });
        const r = await icpy(['events', '--since', '0'], { env: { ...env, ICPY_URL: small.url, ICPY_TOKEN: small.token } });
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/EVENTS_GAP: .*oldest kept seq: \d+/);
      } finally {
        await small.close();
      }
    });
  });
});
