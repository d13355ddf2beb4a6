import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, rpcError, startServer, type TestServer } from './helpers/server.js';
import { completed, eventsOf, joinOutputs, type Output } from './helpers/exec.js';

describe('exec.run: languages', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(async () => {
    await s.close();
  });

  const programs: [string, string, string][] = [
    ['python', 'import sys\nline = sys.stdin.readline().strip()\nprint("py:" + line)\nprint("err", file=sys.stderr)\nsys.exit(3)', 'py:hello\n'],
    ['javascript', 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => { console.log("js:" + s.trim()); console.error("err"); process.exit(3); });', 'js:hello\n'],
    ['typescript', 'const tag: string = "ts"; let s = ""; process.stdin.on("data", (d: Buffer) => (s += d)).on("end", () => { console.log(`${tag}:${s.trim()}`); console.error("err"); process.exit(3); });', 'ts:hello\n'],
    ['bash', 'read -r line; echo "sh:$line"; echo err >&2; exit 3', 'sh:hello\n'],
  ];
  for (const [language, code, stdout] of programs) {
    it(`${language} prints, reads stdin and exits with a code`, async () => {
      const r = await s.call('exec.run', { language, code, stdin: 'hello\n', wait: true });
      expect(r).toMatchObject({ exitCode: 3, signal: null, stdout, stderr: 'err\n', timedOut: false, truncated: false, error: null });
      expect(r.cpuMs).toBeGreaterThanOrEqual(0);
      expect(r.maxRssKb).toBeGreaterThan(0);
    });
  }

  it('runs a workspace file by path (language from its extension) with args and cwd', async () => {
    mkdirSync(join(s.root, 'sub'), { recursive: true });
    writeFileSync(join(s.root, 'sub', 'hello.py'), 'import os, sys\nprint(sys.argv[1:], os.path.basename(os.getcwd()), os.environ["GREETING"])\n');
    const r = await s.call('exec.run', { path: 'sub/hello.py', args: ['a', 'b c'], cwd: 'sub', env: { GREETING: 'hi' }, wait: true });
    expect(r.stdout).toBe("['a', 'b c'] sub hi\n");
    expect(r.exitCode).toBe(0);
  });

  it('streams output as ordered exec.output events with combined offsets, then exec.completed', async () => {
    const c = await connect(s);
    try {
      await c.call('events.subscribe', { patterns: ['exec.**'] });
      const { id, queued } = await c.call('exec.run', { language: 'bash', code: 'echo one; echo two >&2; printf "été\\n"; exit 7' });
      expect(queued).toBe(0);
      const done = await completed(c, id);
      const outs = eventsOf(c, 'exec.output', id) as Output[];
      const { text, end } = joinOutputs(outs);
      // Two pipes: the order between stdout and stderr is whichever the server read first.
      expect(text.length).toBe('one\ntwo\nété\n'.length);
      expect(outs.filter((o) => o.stream === 'stdout').map((o) => o.data).join('')).toBe('one\nété\n');
      expect(outs.filter((o) => o.stream === 'stderr').map((o) => o.data).join('')).toBe('two\n');
      expect(done).toMatchObject({ exitCode: 7, timedOut: false, cancelled: false, bytes: end });
      expect(eventsOf(c, 'exec.started', id)).toHaveLength(1);
      // every event carries who ran it
      const src = c.events().find((e) => e.topic === 'exec.completed' && e.data.id === id).source;
      expect(src.kind).toBe('browser');
    } finally {
      await c.close();
    }
  });

  it('exec.write feeds stdin; eof closes it', async () => {
    const c = await connect(s);
    try {
      await c.call('events.subscribe', { patterns: ['exec.**'] });
      const { id } = await c.call('exec.run', { language: 'python', code: 'import sys\nfor l in sys.stdin: print("got", l.strip(), flush=True)\nprint("eof")' });
      await c.call('exec.write', { id, data: 'a\n' });
      await c.waitFor(() => joinOutputs(eventsOf(c, 'exec.output', id)).text.includes('got a'), 15_000, 'echo of a');
      await c.call('exec.write', { id, data: 'b\n', eof: true });
      await completed(c, id);
      expect(joinOutputs(eventsOf(c, 'exec.output', id)).text).toBe('got a\ngot b\neof\n');
      const err = await rpcError(c.call('exec.write', { id, data: 'late' }));
      expect(err.data.code).toBe('EXEC_FINISHED');
    } finally {
      await c.close();
    }
  });

  it('a missing interpreter is a clear error naming it and how to install it', async () => {
    const s2 = await startServer({ exec: { languages: [{ id: 'ruby', command: ['icpy-no-such-ruby'], extension: '.rb', installHint: 'apt-get install -y ruby' }] } });
    try {
      const err = await rpcError(s2.call('exec.run', { language: 'ruby', code: 'puts 1' }));
      expect(err.code).toBe(-32050);
      expect(err.data).toMatchObject({ code: 'INTERPRETER_NOT_FOUND', command: 'icpy-no-such-ruby', install: 'apt-get install -y ruby' });
      expect(err.message).toContain('icpy-no-such-ruby');
    } finally {
      await s2.close();
    }
  });

  it('a configured language runs like a built-in one', async () => {
    const s2 = await startServer({ exec: { languages: [{ id: 'sh', command: ['/bin/sh'], extension: '.sh', installHint: 'apt-get install -y dash' }] } });
    try {
      const r = await s2.call('exec.run', { language: 'sh', code: 'echo $0 | grep -c main.sh', wait: true });
      expect(r).toMatchObject({ exitCode: 0, stdout: '1\n' });
    } finally {
      await s2.close();
    }
  });

  it('exec.list shows runs; exec.history records who ran what', async () => {
    const c = await connect(s, { kind: 'agent', name: 'Robo' });
    try {
      const r = await c.call('exec.run', { language: 'bash', code: 'echo listed', wait: true });
      const { runs } = await c.call('exec.list', {});
      expect(runs.find((x: any) => x.id === r.id)).toMatchObject({ status: 'completed', language: 'bash', completion: { exitCode: 0 } });
      const h = await c.call('exec.history', { limit: 5 });
      expect(h.runs[0]).toMatchObject({ id: r.id, language: 'bash', code: 'echo listed', exitCode: 0, source: { kind: 'agent', name: 'Robo' } });
      const page2 = await c.call('exec.history', { limit: 1, before: h.runs[0].seq });
      expect(page2.runs[0].seq).toBeLessThan(h.runs[0].seq);
    } finally {
      await c.close();
    }
  });
});

describe('exec: attack cases are INVALID_PARAMS (or the path error) naming the field', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(async () => {
    await s.close();
  });

  const cases: [string, Record<string, unknown>, string, string][] = [
    ['huge code', { language: 'bash', code: 'x'.repeat(1024 * 1024 + 1) }, 'INVALID_PARAMS', 'code'],
    ['env with a bad key', { language: 'bash', code: 'true', env: { 'A=B': 'x' } }, 'INVALID_PARAMS', 'env'],
    ['env with __proto__', { language: 'bash', code: 'true', env: JSON.parse('{"__proto__": "x"}') }, 'INVALID_PARAMS', 'env'],
    ['env value with NUL', { language: 'bash', code: 'true', env: { A: 'x\0y' } }, 'INVALID_PARAMS', 'env'],
    ['cwd outside the workspace', { language: 'bash', code: 'true', cwd: '..' }, 'PATH_OUTSIDE_WORKSPACE', 'cwd'],
    ['absolute cwd outside', { language: 'bash', code: 'true', cwd: '/etc' }, 'PATH_OUTSIDE_WORKSPACE', 'cwd'],
    ['path outside the workspace', { path: '/etc/passwd', language: 'bash' }, 'PATH_OUTSIDE_WORKSPACE', 'path'],
    ['path escaping with ..', { path: '../x.py' }, 'FILE_NOT_FOUND', 'path'],
    ['negative timeout', { language: 'bash', code: 'true', timeoutMs: -1 }, 'INVALID_PARAMS', 'timeoutMs'],
    ['huge timeout', { language: 'bash', code: 'true', timeoutMs: 1e12 }, 'INVALID_PARAMS', 'timeoutMs'],
    ['negative memory', { language: 'bash', code: 'true', memoryMb: -5 }, 'INVALID_PARAMS', 'memoryMb'],
    ['huge memory', { language: 'bash', code: 'true', memoryMb: 2 ** 40 }, 'INVALID_PARAMS', 'memoryMb'],
    ['fractional cpu', { language: 'bash', code: 'true', cpuSeconds: 0.5 }, 'INVALID_PARAMS', 'cpuSeconds'],
    ['huge cpu', { language: 'bash', code: 'true', cpuSeconds: 1e9 }, 'INVALID_PARAMS', 'cpuSeconds'],
    ['unknown language', { language: 'cobol', code: 'x' }, 'INVALID_PARAMS', 'language'],
    ['both code and path', { language: 'bash', code: 'true', path: 'a.sh' }, 'INVALID_PARAMS', 'path'],
    ['neither code nor path', { language: 'bash' }, 'INVALID_PARAMS', 'code'],
    ['unknown field', { language: 'bash', code: 'true', shell: '/bin/sh' }, 'INVALID_PARAMS', 'shell'],
    ['arg with NUL', { language: 'bash', code: 'true', args: ['a\0b'] }, 'INVALID_PARAMS', 'args.0'],
  ];
  for (const [name, params, code, field] of cases) {
    it(name, async () => {
      const err = await rpcError(s.call('exec.run', params));
      expect(err.data.code).toBe(code);
      expect(String(err.data.field)).toContain(field);
    });
  }

  it('unknown run ids are EXEC_NOT_FOUND', async () => {
    for (const m of ['exec.cancel', 'exec.write']) {
      const err = await rpcError(s.call(m, { id: 'nope' }));
      expect(err.data.code).toBe('EXEC_NOT_FOUND');
      expect(err.code).toBe(-32052);
    }
  });
});
