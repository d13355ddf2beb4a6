import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from './helpers/server.js';

const BIN = resolve(__dirname, '..', 'bin', 'icpy.js');

function startCli(args: string[], env: Record<string, string>): { child: ChildProcess; line: Promise<string>; exit: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const line = new Promise<string>((resolveLine, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolveLine(out.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`exited ${code} before printing a line`)));
  });
  line.catch(() => {});
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, line, exit, stderr: () => err };
}

describe('icpy serve', () => {
  let root: string;
  let runtime: string;
  beforeAll(() => {
    if (!existsSync(join(__dirname, '..', 'dist', 'app', 'serve.js'))) throw new Error('run `npm run build` first (npm test does)');
    root = mkdtempSync(join(tmpdir(), 'icpy-serve-'));
    runtime = mkdtempSync(join(tmpdir(), 'icpy-rt-'));
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(runtime, { recursive: true, force: true });
  });

  it('prints the URL line, writes the runtime file, and on SIGTERM closes clients, removes the file and exits 0', async () => {
    const srv = startCli(['serve', root, '--port', '0', '--token', 'tok-123', '--log-level', 'silent'], { ICPY_RUNTIME_DIR: runtime });
    const line = await srv.line;
    const m = /(http:\/\/127\.0\.0\.1:(\d+))\/\?token=tok-123/.exec(line);
    expect(m, line).not.toBeNull();
    const url = m![1]!;
    const files = readdirSync(runtime);
    expect(files).toEqual([`server-${srv.child.pid}.json`]);
    const info = JSON.parse(readFileSync(join(runtime, files[0]!), 'utf8'));
    expect(info).toMatchObject({ url, token: 'tok-123', root, pid: srv.child.pid });

    expect((await fetch(`${url}/api/health`)).status).toBe(200);
    const c = await connect({ wsUrl: url.replace('http', 'ws') + '/api/ws', token: 'tok-123' });
    expect((await c.call('server.info')).root).toBe(root);

    srv.child.kill('SIGTERM');
    expect(await c.closed).toBe(1001);
    expect(await srv.exit).toBe(0);
    // It ended because nothing was left open, not by force.
    expect(srv.stderr()).not.toContain('forcing exit');
    expect(readdirSync(runtime)).toEqual([]);
    await expect(fetch(`${url}/api/health`)).rejects.toThrow();
  });

  it('takes ICPY_TOKEN / ICPY_PORT from the environment and generates a token when none is given', async () => {
    const a = startCli(['serve', root, '--log-level', 'silent'], { ICPY_RUNTIME_DIR: runtime, ICPY_TOKEN: 'from-env', ICPY_PORT: '0' });
    expect(await a.line).toMatch(/\/\?token=from-env$/);
    a.child.kill('SIGINT');
    expect(await a.exit).toBe(0);

    const b = startCli(['serve', root, '--port', '0', '--log-level', 'silent'], { ICPY_RUNTIME_DIR: runtime, ICPY_TOKEN: '' });
    const tok = /\?token=([A-Za-z0-9_-]+)$/.exec(await b.line)?.[1];
    expect(tok && tok.length).toBeGreaterThanOrEqual(20);
    b.child.kill('SIGTERM');
    expect(await b.exit).toBe(0);
    expect(readdirSync(runtime)).toEqual([]);
  });

  it('runs as `npx icpy` from the checkout, without asking the registry (README quick start)', async () => {
    const child = spawn('npx', ['--no-install', 'icpy', 'help'], { cwd: resolve(__dirname, '..'), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(out).toMatch(/Usage: icpy/);
    expect(code).toBe(0);
  });

  it('exits 2 on usage errors', async () => {
    expect(await startCli(['serve', root, '--port', 'abc'], {}).exit).toBe(2);
    expect(await startCli(['serve', join(root, 'missing')], {}).exit).toBe(2);
    expect(await startCli(['serve', '--bogus'], {}).exit).toBe(2);
  });
});
