import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, startServer, type TestServer, type WsClient } from './helpers/server.js';
import { until } from './helpers/until.js';
import { icpy } from './helpers/cli.js';

/** `icpy edit`, `history`, `diff`, `checkpoint`, `restore` run as subprocesses (needs `npm run build`). */


describe('icpy edit / history / diff / checkpoint / restore', () => {
  let s: TestServer;
  let env: NodeJS.ProcessEnv;
  let runtimeDir: string;
  let editor: WsClient;
  const run = (args: string[], input?: string) => icpy(args, env, s.root, input);
  const live = async () => (await editor.call('docs.get', { path: 'app.py' })).text as string;

  beforeAll(async () => {
    s = await startServer();
    runtimeDir = mkdtempSync(join(tmpdir(), 'icpy-rt-'));
    env = { PATH: process.env.PATH, HOME: process.env.HOME, ICPY_URL: s.url, ICPY_TOKEN: s.token, ICPY_RUNTIME_DIR: runtimeDir };
    writeFileSync(join(s.root, 'app.py'), 'retries = 3\nname = "x"\nprint(name)\n');
    editor = await connect(s, { kind: 'browser', name: 'ada' });
    await editor.call('docs.open', { path: 'app.py' });
  });
  afterAll(async () => {
    await editor.close();
    await s.close();
    rmSync(s.root, { recursive: true, force: true });
    rmSync(runtimeDir, { recursive: true, force: true });
  });

  it('edit --replace changes the open document in place; absent or ambiguous text fails with exit 1', async () => {
    const r = await run(['edit', 'app.py', '--replace', 'retries = 3', '--with', 'retries = 5']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^edited app\.py: 1 edit, version \d+/);
    expect(await live()).toBe('retries = 5\nname = "x"\nprint(name)\n');
    const missing = await run(['edit', 'app.py', '--replace', 'nope', '--with', 'x']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('NOT_FOUND');
    const ambiguous = await run(['edit', 'app.py', '--replace', 'name', '--with', 'label']);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toContain('AMBIGUOUS');
    const all = await run(['edit', 'app.py', '--replace', 'name', '--with', 'label', '--all']);
    expect(all.stdout).toContain('2 edits');
    expect(await live()).toBe('retries = 5\nlabel = "x"\nprint(label)\n');
  });

  it('edit --range uses 1-based LINE:COL (end excluded); a single position inserts; --text - reads stdin', async () => {
    expect((await run(['edit', 'app.py', '--range', '2:10-2:11', '--text', 'y'])).code).toBe(0);
    expect(await live()).toBe('retries = 5\nlabel = "y"\nprint(label)\n');
    expect((await run(['edit', 'app.py', '--range', '1:1', '--text', '-'], '# header\n')).code).toBe(0);
    expect(await live()).toBe('# header\nretries = 5\nlabel = "y"\nprint(label)\n');
    const bad = await run(['edit', 'app.py', '--range', '0:1', '--text', 'x']);
    expect(bad.code).toBe(2);
  });

  it('edit --patch applies a unified diff to the live text; a patch that does not fit fails', async () => {
    const patch = ['--- a/app.py', '+++ b/app.py', '@@ -2,2 +2,2 @@', ' retries = 5', '-label = "y"', '+label = "patched"', ''].join('\n');
    const r = await run(['edit', 'app.py', '--patch', '-'], patch);
    expect(r.stderr).toBe('');
    expect(await live()).toBe('# header\nretries = 5\nlabel = "patched"\nprint(label)\n');
    const bad = await run(['edit', 'app.py', '--patch', '-'], patch);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('PATCH_FAILED');
  });

  it('history lists versions, diff prints a unified diff, checkpoint names, restore brings an old text back as a new version', async () => {
    await editor.call('docs.save', { path: 'app.py' });
    await until(() => readFileSync(join(s.root, 'app.py'), 'utf8').includes('patched'), 'saved');
    const h = await run(['history', 'app.py']);
    expect(h.code).toBe(0);
    const lines = h.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^VERSION\s+TIME\s+AUTHOR\s+SIZE\s+LABEL$/);
    expect(lines.at(-1)).toMatch(/^v1\s.*system:icpy.*opened from disk$/);
    const newest = Number(/^v(\d+)/.exec(lines[1]!)![1]);
    expect(newest).toBeGreaterThanOrEqual(2);
    expect(lines[1]).toContain('cli:');

    const d = await run(['diff', 'app.py', 'v1']);
    expect(d.code).toBe(0);
    expect(d.stdout).toContain('-retries = 3');
    expect(d.stdout).toContain('+label = "patched"');
    expect((await run(['diff', 'app.py', String(newest), 'current'])).stdout).toBe('');

    const cp = await run(['checkpoint', 'app.py', 'before restore']);
    expect(cp.stdout.trim()).toBe(`app.py v${newest} is checkpoint "before restore"`);

    const r = await run(['restore', 'app.py', 'v1']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`restored app.py to v1 (now v${newest + 1})`);
    expect(await live()).toBe('retries = 3\nname = "x"\nprint(name)\n');
    expect(readFileSync(join(s.root, 'app.py'), 'utf8')).toBe('retries = 3\nname = "x"\nprint(name)\n');
    const after = (await run(['history', 'app.py', '--json'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
    const vs = after.flatMap((p) => p.versions);
    expect(vs[0]).toMatchObject({ version: newest + 1, label: 'restored from v1' });
    expect(vs[1]).toMatchObject({ version: newest, name: 'before restore' });

    expect((await run(['restore', 'app.py', 'v999'])).stderr).toContain('VERSION_NOT_FOUND');
    expect((await run(['restore', 'app.py', 'latest'])).code).toBe(2);
  });
});
