import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, startServer, type TestServer, type WsClient } from './helpers/server.js';

/**
 * The built `icpy` command run as a subprocess against a real in-process server.
 * Needs `npm run build` first (npm test does it).
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'icpy.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Environment without any ICPY_* of the parent, with an empty runtime folder. */
function cleanEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ICPY_') && k !== 'NO_COLOR') env[k] = v;
  return { ...env, ...extra };
}

/** Start the CLI; `done` settles when it exits; `stdout()` is what it printed so far. */
function startCli(args: string[], opts: { env: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number }) {
  const child = spawn(process.execPath, [BIN, ...args], { env: opts.env, cwd: opts.cwd ?? ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<Run>((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`icpy ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
  child.stdin.end(opts.input ?? '');
  return { child, done, stdout: () => stdout };
}

function runCli(args: string[], opts: { env: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number }): Promise<Run> {
  return startCli(args, opts).done;
}

/** Poll until pred() is truthy (generous timeout; no timing assertion). */
async function until<T>(pred: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('icpy CLI', () => {
  let s: TestServer;
  let runtimeDir: string;
  let env: NodeJS.ProcessEnv;
  const icpy = (args: string[], opts: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv } = {}) => runCli(args, { env: opts.env ?? env, cwd: opts.cwd, input: opts.input });

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
        writeFileSync(join(rt, `server-${process.pid}.json`), JSON.stringify({ url: s.url, token: s.token, root: s.root, pid: process.pid, startedAt: Date.now(), version: 'test' }));
        writeFileSync(join(rt, `server-${process.ppid}.json`), JSON.stringify({ url: 'http://127.0.0.1:9', token: 'nope', root: tmpdir() + '/elsewhere', pid: process.ppid, startedAt: Date.now(), version: 'test' }));
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
  });
});
