import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Screen } from './helpers/screen.js';
import { startServer, type TestServer } from './helpers/server.js';
import { until } from './helpers/until.js';

/** The built `icpy` command (npm run build first) against a real in-process server. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'icpy.js');
const CLEAR = '\x1b[0m\x1b[H\x1b[2J';

describe('icpy CLI: attach redraw and delete-layout', () => {
  let s: TestServer;
  let runtimeDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'transports', 'cli', 'main.js'))) throw new Error('run `npm run build` before this test');
    s = await startServer();
    runtimeDir = mkdtempSync(join(tmpdir(), 'icpy-cli-rt-'));
    env = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('ICPY_') && k !== 'NO_COLOR') env[k] = v;
    Object.assign(env, { ICPY_URL: s.url, ICPY_TOKEN: s.token, ICPY_RUNTIME_DIR: runtimeDir });
  });
  afterAll(async () => {
    await s?.close();
    rmSync(runtimeDir, { recursive: true, force: true });
  });

  function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolvePromise, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], { env, cwd: s.root, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
    });
  }

  /** `icpy terminal ID` under a real pseudo-terminal of 80×24; `screen` is what the user sees. */
  async function attach(id: string) {
    const pty = await import('node-pty');
    const p = pty.spawn(process.execPath, [BIN, 'terminal', id], { cwd: s.root, env, cols: 80, rows: 24 });
    const screen = new Screen(80, 24);
    let out = '';
    p.onData((d) => {
      out += d;
      screen.write(d);
    });
    const exited = new Promise<number>((r) => p.onExit((e) => r(e.exitCode)));
    return { p, out: () => out, screen, exited };
  }

  const attachedCount = async (id: string) => (await s.call('terminal.list')).terminals.find((x: { id: string }) => x.id === id)?.attached ?? 0;

  it('re-attaching with nothing missed repaints the screen it left, banner first, never inside the replay', async () => {
    const t = await s.call('terminal.create', { cols: 80, rows: 24, shell: '/bin/bash', args: ['--norc', '--noprofile'], env: { PS1: '$ ', HISTFILE: '/dev/null' } });
    try {
      const a = await attach(t.id);
      await until(async () => a.out().includes('attached to') && (await attachedCount(t.id)) > 0, 'the first attach');
      a.p.write('for i in 1 2 3; do echo "row-$i-of-$((40+2))"; done\r');
      await until(() => a.screen.text().includes('row-3-of-42'), 'the output on the first screen');
      const before = a.screen.lines().filter((l) => /row-\d-of-42/.test(l));
      expect(before).toEqual(['row-1-of-42', 'row-2-of-42', 'row-3-of-42']);
      a.p.write('\x1dd');
      expect(await a.exited).toBe(0);
      await until(async () => (await attachedCount(t.id)) === 0, 'the detach');

      // Nothing happens while away. The old CLI then showed a blank screen.
      const b = await attach(t.id);
      await until(() => b.screen.text().includes('row-3-of-42') && b.screen.lines().some((l) => l === '$'), 'the repainted screen');
      expect(b.screen.lines().filter((l) => /row-\d-of-42/.test(l))).toEqual(before);
      // Order: clear, banner, then the replay; no terminal output before or inside the banner.
      const out = b.out();
      const banner = out.indexOf('[icpy: attached to');
      expect(banner).toBeGreaterThanOrEqual(0);
      expect(out.slice(0, banner)).toBe(CLEAR);
      const bannerEnd = out.indexOf('\r\n', banner) + 2;
      expect(out.slice(banner, bannerEnd)).not.toMatch(/row-|\$ /);
      expect(out.slice(bannerEnd)).toContain('row-1-of-42');
      // Typing still works after the replay.
      b.p.write('echo after-$((1+1))\r');
      await until(() => b.screen.text().includes('after-2'), 'typing after re-attach');
      b.p.write('\x1dd');
      expect(await b.exited).toBe(0);
    } finally {
      await s.call('terminal.close', { id: t.id }).catch(() => undefined);
    }
  });

  it('a full-screen program is repainted from its switch to the alternate screen', async () => {
    // Draws a title, then rewrites one row many times (more lines than the screen has).
    const script = "printf '\\033[?1049h\\033[H\\033[2JFULL-SCREEN-TITLE'; for i in $(seq 1 60); do printf '\\033[5;1Hcounter %s\\n' $i; done; exec sleep 60";
    const t = await s.call('terminal.create', { cols: 80, rows: 24, shell: '/bin/sh', args: ['-c', script] });
    try {
      await until(async () => (await s.call('terminal.list')).terminals.find((x: { id: string }) => x.id === t.id)?.end > 500, 'the drawing');
      const a = await attach(t.id);
      await until(() => a.screen.lines()[4] === 'counter 60' && a.screen.lines()[0] === 'FULL-SCREEN-TITLE', 'the repainted full screen');
      a.p.write('\x1dd');
      expect(await a.exited).toBe(0);
    } finally {
      await s.call('terminal.close', { id: t.id }).catch(() => undefined);
    }
  });

  it('workspace delete-layout of the current layout: it is no longer shown as current', async () => {
    expect((await run(['workspace', 'save', 'wide'])).code).toBe(0);
    expect((await run(['workspace', 'switch', 'wide'])).code).toBe(0);
    expect((await run(['workspace', 'layouts'])).stdout).toContain('* wide');
    const del = await run(['workspace', 'delete-layout', 'wide']);
    expect(del.code).toBe(0);
    expect(del.stdout).toContain('deleted layout wide (it was the current layout, which is now unnamed)');
    expect(JSON.parse((await run(['workspace', 'layouts', '--json'])).stdout)).toEqual({ current: null, saved: [] });
    const show = await run(['workspace']);
    expect(show.stdout).toMatch(/layout\s+\(unnamed\)/);
    expect(show.stdout).not.toContain('wide');
  });
});
