import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, startServer, type TestServer, type WsClient } from './helpers/server.js';
import { until } from './helpers/until.js';
import { icpy as runIcpy } from './helpers/cli.js';

const icpy = (args: string[], env: NodeJS.ProcessEnv, cwd: string) => runIcpy(args, env, cwd, '', SLOW - 5_000);


/**
 * `icpy diagnostics` and `icpy symbols` run as subprocesses (bin/icpy.js → dist; needs
 * `npm run build`) against a real server with the real typescript-language-server.
 */
// A language server's first answer loads the project: generous on a loaded 2-core machine.
const SLOW = 90_000;


describe('icpy diagnostics / symbols', () => {
  let s: TestServer;
  let env: NodeJS.ProcessEnv;
  let runtimeDir: string;
  let editor: WsClient;
  const run = (args: string[], cwd = s.root) => icpy(args, env, cwd);

  beforeAll(async () => {
    s = await startServer();
    runtimeDir = mkdtempSync(join(tmpdir(), 'icpy-rt-'));
    env = { PATH: process.env.PATH, HOME: process.env.HOME, ICPY_URL: s.url, ICPY_TOKEN: s.token, ICPY_RUNTIME_DIR: runtimeDir };
    writeFileSync(join(s.root, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, target: 'ES2022', module: 'ES2022', moduleResolution: 'bundler', noEmit: true } }));
    mkdirSync(join(s.root, 'src'));
    writeFileSync(join(s.root, 'src', 'lib.ts'), 'export function greetEveryone(name: string): string {\n  return "hi " + name;\n}\n\nexport class GreeterBox {\n  size = 1;\n}\n');
    // line 2 (1-based), column 7: a string is not a number
    writeFileSync(join(s.root, 'src', 'bad.ts'), "import { greetEveryone } from './lib';\nexport const n: number = greetEveryone('x');\n");
    writeFileSync(join(s.root, 'src', 'good.ts'), 'export const ok: number = 1;\n');
    editor = await connect(s, { kind: 'browser', name: 'ada' });
  });
  afterAll(async () => {
    await editor?.close();
    await s?.close();
    rmSync(runtimeDir, { recursive: true, force: true });
  });

  it(
    'diagnostics PATH prints PATH:LINE:COL severity message [source code], 1-based, and exits 1 on an error',
    async () => {
      const r = await run(['diagnostics', 'src/bad.ts']);
      expect(r.stdout).toMatch(/^src\/bad\.ts:2:14 error Type 'string' is not assignable to type 'number'\. \[typescript 2322\]\n$/);
      expect(r.stderr).toBe('icpy: 1 error, 0 warnings in 1 file\n');
      expect(r.code).toBe(1);
    },
    SLOW,
  );

  it(
    'paths are relative to the current folder, both ways',
    async () => {
      const r = await run(['diagnostics', 'bad.ts'], join(s.root, 'src'));
      expect(r.stdout).toMatch(/^bad\.ts:2:14 error /);
      expect(r.code).toBe(1);
    },
    SLOW,
  );

  it(
    'a clean file: no output, exit 0',
    async () => {
      const r = await run(['diagnostics', 'src/good.ts']);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe('icpy: no diagnostics\n');
      expect(r.code).toBe(0);
    },
    SLOW,
  );

  it(
    '--json: the {files: [{path, diagnostics}]} result on one line, LSP (zero-based) positions, same exit code',
    async () => {
      const r = await run(['diagnostics', 'src/bad.ts', '--json']);
      expect(r.code).toBe(1);
      expect(r.stdout.trim().split('\n')).toHaveLength(1);
      const { files } = JSON.parse(r.stdout);
      expect(files).toHaveLength(1);
      expect(files[0].path).toBe('src/bad.ts');
      expect(files[0].diagnostics).toHaveLength(1);
      expect(files[0].diagnostics[0]).toMatchObject({ range: { start: { line: 1, character: 13 } }, severity: 1, code: 2322 });
    },
    SLOW,
  );

  it(
    'without PATH: every file with published problems (clean and non-code files left out); --severity filters',
    async () => {
      writeFileSync(join(s.root, 'notes.md'), '# not code\n');
      for (const path of ['src/bad.ts', 'src/good.ts', 'notes.md']) await editor.call('docs.open', { path });
      try {
        const all = await run(['diagnostics']);
        expect(all.stdout).toMatch(/^src\/bad\.ts:2:14 error Type 'string' is not assignable/);
        expect(all.stdout.trim().split('\n')).toHaveLength(1);
        expect(all.stderr).toBe('icpy: 1 error, 0 warnings in 1 file\n');
        expect(all.code).toBe(1);
        const json = await run(['diagnostics', '--json']);
        expect(JSON.parse(json.stdout).files.map((f: { path: string }) => f.path)).toEqual(['src/bad.ts']);
        const bad = await run(['diagnostics', '--severity', 'bogus']);
        expect(bad.code).toBe(2);
        expect(bad.stderr).toMatch(/--severity must be error, warning, info or hint/);
      } finally {
        for (const path of ['src/bad.ts', 'src/good.ts', 'notes.md']) await editor.call('docs.close', { path });
      }
    },
    SLOW,
  );

  it(
    'reports the live text: an edit through documents changes what it prints, both ways',
    async () => {
      await editor.call('docs.open', { path: 'src/bad.ts' });
      try {
        // `n: number` → `n: string` (line 1, characters 16..22), not saved
        await editor.call('docs.applyEdits', { path: 'src/bad.ts', edits: [{ range: { start: { line: 1, character: 16 }, end: { line: 1, character: 22 } }, text: 'string' }] });
        const r = await until(
          async () => {
            const x = await run(['diagnostics', 'src/bad.ts']);
            return x.code === 0 ? x : undefined;
          },
          'the diagnostics of the edited text',
          SLOW - 10_000,
        );
        expect(r.stdout).toBe('');
        // and back: the error is reported again
        await editor.call('docs.applyEdits', { path: 'src/bad.ts', edits: [{ range: { start: { line: 1, character: 16 }, end: { line: 1, character: 22 } }, text: 'number' }] });
        await until(async () => (await run(['diagnostics', 'src/bad.ts'])).code === 1, 'the error back', SLOW - 10_000);
      } finally {
        await editor.call('docs.close', { path: 'src/bad.ts' });
      }
    },
    SLOW,
  );

  it(
    'symbols QUERY prints NAME KIND PATH:LINE:COL; -l LANG; --json; no match exits 0',
    async () => {
      // tsserver knows the project of the files it has open
      await editor.call('docs.open', { path: 'src/lib.ts' });
      const r = await run(['symbols', 'greetEveryone', '-l', 'typescript']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^greetEveryone\s+function\s+src\/lib\.ts:1:\d+\s*$/m);
      const cls = await run(['symbols', 'GreeterBox']);
      expect(cls.stdout).toMatch(/^GreeterBox\s+class\s+src\/lib\.ts:5:\d+\s*$/m);
      const j = await run(['symbols', 'GreeterBox', '--json']);
      const body = JSON.parse(j.stdout);
      expect(body.symbols.some((x: { name: string; location: { path: string } }) => x.name === 'GreeterBox' && x.location.path === 'src/lib.ts')).toBe(true);
      const none = await run(['symbols', 'zzqqNoSuchSymbolxx', '-l', 'typescript']);
      expect(none.code).toBe(0);
      expect(none.stdout).toBe('');
      await editor.call('docs.close', { path: 'src/lib.ts' });
    },
    SLOW,
  );

  it('usage errors exit 2', async () => {
    const r = await run(['symbols']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/symbols: QUERY missing/);
    const two = await run(['diagnostics', 'a.ts', 'b.ts']);
    expect(two.code).toBe(2);
  });
});
