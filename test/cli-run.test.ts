import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, startServer, type TestServer, type WsClient } from './helpers/server.js';
import { until } from './helpers/until.js';

/**
 * `icpy run` as a real subprocess (bin/icpy.js → dist: `npm run build` first) against a real
 * server running real interpreters.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'icpy.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function startCli(args: string[], opts: { env: NodeJS.ProcessEnv; cwd: string; input?: string | null; timeoutMs?: number }) {
  const child = spawn(process.execPath, [BIN, ...args], { env: opts.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<Run>((res, rej) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`icpy ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.on('error', rej);
    child.on('close', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
  });
  // null: leave stdin open (the test writes to it or never closes it).
  if (opts.input !== null) child.stdin.end(opts.input ?? '');
  return { child, done, stdout: () => stdout, stderr: () => stderr };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('icpy run', () => {
  let s: TestServer;
  let env: NodeJS.ProcessEnv;
  let runtimeDir: string;
  const children: ChildProcess[] = [];
  const start = (args: string[], opts: { cwd?: string; input?: string | null; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) => {
    const c = startCli(args, { env: opts.env ?? env, cwd: opts.cwd ?? s.root, input: opts.input, timeoutMs: opts.timeoutMs });
    children.push(c.child);
    return c;
  };
  const icpy = (args: string[], opts: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv } = {}) => start(args, opts).done;

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'transports', 'cli', 'commands', 'run.js'))) throw new Error('run `npm run build` before this test');
    // A language the CLI does not know (the server picks it by extension) and one whose
    // interpreter is missing.
    s = await startServer({
      exec: {
        languages: [
          { id: 'py-alt', command: ['python3', '-u'], extension: '.pyalt', installHint: 'install python3' },
          { id: 'ruby-missing', command: ['icpy-no-such-ruby'], extension: '.rbx', installHint: 'apt-get install -y ruby' },
        ],
      },
    });
    runtimeDir = mkdtempSync(join(tmpdir(), 'icpy-run-rt-'));
    env = { PATH: process.env.PATH, HOME: process.env.HOME, ICPY_URL: s.url, ICPY_TOKEN: s.token, ICPY_RUNTIME_DIR: runtimeDir };
    writeFileSync(join(s.root, 'hello.py'), 'import sys\nprint("out", sys.argv[1:])\nprint("err", file=sys.stderr)\nsys.exit(3)\n');
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await s?.close();
    rmSync(runtimeDir, { recursive: true, force: true });
  });

  it('runs a workspace file: stdout to stdout, stderr to stderr, ARGS after FILE, exit code passed through', async () => {
    const r = await icpy(['run', 'hello.py', '--', '--flag', 'x y']);
    expect(r.stdout).toBe("out ['--flag', 'x y']\n");
    expect(r.stderr).toBe('err\n');
    expect(r.code).toBe(3);
  });

  it('every language prints, reads piped stdin and exits with its code (-l LANG -c CODE)', async () => {
    const cases: [string, string][] = [
      ['python', 'import sys\nprint("py:" + input())\nsys.exit(4)'],
      ['javascript', 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{console.log("js:"+s.trim());process.exit(5)})'],
      ['typescript', 'const n: number = 6;let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{console.log("ts:"+s.trim());process.exit(n)})'],
      ['bash', 'read x; echo "sh:$x"; exit 7'],
    ];
    const results = await Promise.all(cases.map(([lang, code]) => icpy(['run', '-l', lang, '-c', code], { input: 'piped\n' })));
    results.forEach((r, i) => {
      const lang = cases[i]![0];
      expect(r.stderr, lang).toBe('');
      expect(r.stdout, lang).toBe(`${lang === 'javascript' ? 'js' : lang === 'typescript' ? 'ts' : lang === 'bash' ? 'sh' : 'py'}:piped\n`);
      expect(r.code, lang).toBe(4 + i);
    });
  });

  it('the language comes from the extension (.js .ts .sh), and an unknown one is a usage error', async () => {
    mkdirSync(join(s.root, 'sub'), { recursive: true });
    writeFileSync(join(s.root, 'sub', 'a.js'), 'console.log("js", process.cwd().endsWith("sub"))\n');
    writeFileSync(join(s.root, 'sub', 'b.ts'), 'const x: string = "ts"; console.log(x)\n');
    writeFileSync(join(s.root, 'sub', 'c.sh'), 'echo sh "$1"\n');
    writeFileSync(join(s.root, 'notes.txt'), 'x\n');
    // Run from the subfolder: FILE is relative to it, and so is the run's working folder.
    const cwd = join(s.root, 'sub');
    const [js, ts, sh] = await Promise.all([icpy(['run', 'a.js'], { cwd }), icpy(['run', 'b.ts'], { cwd }), icpy(['run', 'c.sh', 'arg'], { cwd })]);
    expect([js.stdout, ts.stdout, sh.stdout]).toEqual(['js true\n', 'ts\n', 'sh arg\n']);
    expect([js.code, ts.code, sh.code]).toEqual([0, 0, 0]);
    const txt = await icpy(['run', 'notes.txt']);
    expect(txt.code).toBe(2);
    expect(txt.stderr).toContain('-l LANG');
    const noLang = await icpy(['run', '-c', 'print(1)']);
    expect(noLang.code).toBe(2);
    const nothing = await icpy(['run']);
    expect(nothing.code).toBe(2);
  });

  it('a program killed by a signal exits 128+N', async () => {
    const r = await icpy(['run', '-l', 'bash', '-c', 'echo before; kill -KILL $$']);
    expect(r.stdout).toBe('before\n');
    expect(r.code).toBe(137);
  });

  it('output from the first instant is complete and in order (no gap before the attach, no duplicate)', async () => {
    // 20 000 numbered lines written at once on start, interleaved with stderr.
    const code = 'import sys\nfor i in range(20000):\n    print(i)\n    if i % 1000 == 0: print("e%d" % i, file=sys.stderr)\n';
    const r = await icpy(['run', '-l', 'python', '-c', code]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toEqual(Array.from({ length: 20000 }, (_, i) => String(i)));
    expect(r.stderr).toBe(Array.from({ length: 20 }, (_, i) => `e${i * 1000}\n`).join(''));
  });

  it('stdin from a pipe is streamed as it comes, not only at its end', async () => {
    // The program answers each line; the test writes the second line only after the first answer.
    const c = start(['run', '-l', 'python', '-c', 'import sys\nfor line in sys.stdin:\n    print("got", line.strip(), flush=True)\n'], { input: null });
    c.child.stdin!.write('one\n');
    await until(() => c.stdout().includes('got one\n'), 'first answer');
    c.child.stdin!.end('two\n');
    const r = await c.done;
    expect(r.stdout).toBe('got one\ngot two\n');
    expect(r.code).toBe(0);
  });

  it('Ctrl-C cancels the run: the process group is killed on the server and icpy exits 130', async () => {
    const pidFile = join(s.root, 'cancel.pid');
    // A grandchild that ignores SIGTERM, to show the whole group goes.
    const code = `trap '' TERM; (trap '' TERM; sleep 300) & echo $! > ${pidFile}; echo ready; wait`;
    const c = start(['run', '-l', 'bash', '-c', code], { input: null });
    await until(() => c.stdout().includes('ready') && existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim(), 'the run to start');
    const grandchild = Number(readFileSync(pidFile, 'utf8').trim());
    expect(alive(grandchild)).toBe(true);
    c.child.kill('SIGINT');
    const r = await c.done;
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('cancelled');
    await until(() => !alive(grandchild), 'the grandchild to be killed', 15_000);
  });

  it('the CLI killed outright (kill -9): the server kills its run, nothing is left behind (detach: false)', async () => {
    const pidFile = join(s.root, 'orphan.pid');
    const c = start(['run', '-l', 'bash', '-c', `(trap '' TERM; sleep 300) & echo $! > ${pidFile}; echo ready; wait`], { input: null });
    await until(() => c.stdout().includes('ready') && existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim(), 'the run to start');
    const grandchild = Number(readFileSync(pidFile, 'utf8').trim());
    c.child.kill('SIGKILL');
    await c.done;
    await until(() => !alive(grandchild), 'the orphaned grandchild to be killed', 15_000);
  });

  it('on a terminal: typed lines reach the program, Ctrl-D ends its input, and Ctrl-C from the keyboard cancels (exit 130)', async () => {
    const pty = await import('node-pty');
    const inPty = (args: string[]) => {
      const p = pty.spawn(process.execPath, [BIN, ...args], { cwd: s.root, env: env as Record<string, string>, cols: 80, rows: 24 });
      let out = '';
      p.onData((d) => (out += d));
      const exited = new Promise<number>((r) => p.onExit((e) => r(e.exitCode)));
      return { p, out: () => out, exited };
    };
    const echo = inPty(['run', '-l', 'python', '-c', 'import sys\nprint("ask", flush=True)\nfor l in sys.stdin: print("got", l.strip(), flush=True)\nprint("eof")']);
    await until(() => echo.out().includes('ask'), 'the program to start');
    echo.p.write('one\r');
    await until(() => echo.out().includes('got one'), 'the typed line');
    echo.p.write('\x04');
    expect(await echo.exited).toBe(0);
    expect(echo.out()).toContain('eof');

    const pidFile = join(s.root, 'pty.pid');
    const loop = inPty(['run', '-l', 'bash', '-c', `echo $$ > ${pidFile}; echo ready; sleep 300`]);
    await until(() => loop.out().includes('ready') && existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim(), 'the run to start');
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    loop.p.write('\x03');
    expect(await loop.exited).toBe(130);
    expect(loop.out()).toContain('cancelled');
    await until(() => !alive(pid), 'the program to be killed', 15_000);
  });

  it('past maxConcurrentRuns the run waits: on a terminal a note gives its queue position; it runs once a slot frees', async () => {
    const one = await startServer({ exec: { maxConcurrentRuns: 1 } });
    const pty = await import('node-pty');
    try {
      const oneEnv = { ...env, ICPY_URL: one.url, ICPY_TOKEN: one.token } as Record<string, string>;
      const busy = await one.call('exec.run', { language: 'bash', code: 'sleep 300' });
      const p = pty.spawn(process.execPath, [BIN, 'run', '-l', 'bash', '-c', 'echo ran'], { cwd: one.root, env: oneEnv, cols: 80, rows: 24 });
      let out = '';
      p.onData((d) => (out += d));
      const exited = new Promise<number>((r) => p.onExit((e) => r(e.exitCode)));
      await until(() => out.includes('queued at position 1'), 'the queue note');
      expect(out).not.toContain('ran');
      await one.call('exec.cancel', { id: busy.id });
      expect(await exited).toBe(0);
      expect(out).toContain('ran');

      // Piped input beyond what a queued run holds (1 MiB) is all delivered once it starts.
      const busy2 = await one.call('exec.run', { language: 'bash', code: 'sleep 300' });
      const big = 'x'.repeat(3 * 1024 * 1024);
      const reader = startCli(['run', '--timeout', '60', '-l', 'python', '-c', 'import sys; print(len(sys.stdin.read()))'], { env: oneEnv, cwd: one.root, input: big });
      children.push(reader.child);
      await until(async () => (await one.call('exec.list')).runs.some((r: { status: string }) => r.status === 'queued'), 'the piped run to queue');
      await new Promise((r) => setTimeout(r, 1000)); // let it fill the queued run's input
      await one.call('exec.cancel', { id: busy2.id });
      const r = await reader.done;
      expect(r.stdout).toBe(`${big.length}\n`);
      expect(r.code).toBe(0);
    } finally {
      await one.close();
    }
  });

  it('--timeout kills the run: a note says so and the exit code is non-zero', async () => {
    const r = await icpy(['run', '-l', 'bash', '-c', 'echo start; sleep 60', '--timeout', '1']);
    expect(r.stdout).toBe('start\n');
    expect(r.stderr).toContain('timed out');
    expect(r.code).toBeGreaterThan(128);
  });

  it('--json prints one result object at the end and still passes the exit code through', async () => {
    const r = await icpy(['run', '--json', 'hello.py', 'a']);
    expect(r.code).toBe(3);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const res = JSON.parse(lines[0]!);
    expect(res).toMatchObject({ exitCode: 3, signal: null, stdout: "out ['a']\n", stderr: 'err\n', timedOut: false, truncated: false, cancelled: false, error: null });
    expect(typeof res.id).toBe('string');
    expect(typeof res.durationMs).toBe('number');
  });

  it('words after FILE (or after -- with -c) are the program\'s, even when they look like icpy options', async () => {
    writeFileSync(join(s.root, 'argv.py'), 'import sys\nprint(sys.argv[1:])\n');
    const file = await icpy(['run', '--timeout', '30', 'argv.py', '--json', '--cwd', 'x', '-h', '--', '-l']);
    expect(file.stderr).toBe('');
    expect(file.stdout).toBe("['--json', '--cwd', 'x', '-h', '--', '-l']\n");
    expect(file.code).toBe(0);
    const code = await icpy(['run', '-l', 'python', '-c', 'import sys; print(sys.argv[1:])', '--', '--json', '-h']);
    expect(code.stdout).toBe("['--json', '-h']\n");
    expect(code.code).toBe(0);
  });

  it('--agent NAME: other clients see the agent as the source of the run', async () => {
    const watcher: WsClient = await connect(s, { kind: 'browser', name: 'ada' });
    try {
      await watcher.call('events.subscribe', { patterns: ['exec.*'] });
      const r = await icpy(['run', '-l', 'bash', '-c', 'echo hi', '--agent', 'claude', '--json']);
      const { id, stdout } = JSON.parse(r.stdout);
      expect(stdout).toBe('hi\n');
      const ev = await until(() => watcher.events().find((e) => e.topic === 'exec.completed' && e.data.id === id), 'exec.completed');
      expect(ev.source).toMatchObject({ kind: 'agent', name: 'claude' });
      const history = await s.call('exec.history', { limit: 5 });
      const runs = (history.runs ?? history) as { id: string; source: { kind: string; name: string } }[];
      expect(runs.find((x) => x.id === id)?.source).toMatchObject({ kind: 'agent', name: 'claude' });
    } finally {
      await watcher.close();
    }
  });

  it('an unknown language is a usage error naming the known ones; a missing interpreter fails (exit 1) naming it and how to install it', async () => {
    const unknown = await icpy(['run', '-l', 'cobol', '-c', 'DISPLAY 1']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown language 'cobol'");
    expect(unknown.stderr).toContain('python');
    writeFileSync(join(s.root, 'prog.rbx'), 'puts 1\n');
    const missing = await icpy(['run', 'prog.rbx']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('INTERPRETER_NOT_FOUND');
    expect(missing.stderr).toContain('icpy-no-such-ruby');
    expect(missing.stderr).toContain('apt-get install -y ruby');
  });

  it('a configured language the CLI does not know is chosen by the server from the extension', async () => {
    writeFileSync(join(s.root, 'alt.pyalt'), 'print("alt")\n');
    const r = await icpy(['run', 'alt.pyalt']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('alt\n');
    expect(r.code).toBe(0);
  });

  it('--cpu stops a busy loop (killed by a signal: exit > 128); --memory stops endless allocation', async () => {
    const cpu = await icpy(['run', '-l', 'python', '-c', 'while True: pass', '--cpu', '1', '--timeout', '60']);
    expect(cpu.code).toBeGreaterThan(128);
    const mem = await icpy(['run', '-l', 'python', '-c', 'a = []\nwhile True: a.append(bytearray(1 << 20))', '--memory', '64', '--timeout', '60']);
    expect(mem.code).not.toBe(0);
    expect(mem.stderr).toContain('MemoryError');
  });

  it('--sandbox never runs unsandboxed: the program cannot write outside the workspace, can write inside (or the run is refused)', async () => {
    // One path in the private /tmp, one in a real folder outside the workspace that is not under
    // /tmp (a checkout under /tmp, as in CI, would be hidden by the private /tmp, so writes there
    // succeed silently inside the sandbox and never reach the real folder).
    const outside = [join(tmpdir(), `icpy-cli-sandbox-${process.pid}`), `/var/tmp/icpy-cli-sandbox-${process.pid}`];
    try {
      const r = await icpy(['run', '--sandbox', '-l', 'bash', '-c', `for f in ${outside.join(' ')}; do echo x > $f; done; echo inside > in-sandbox.txt`]);
      for (const f of outside) expect(existsSync(f), f).toBe(false);
      if (!existsSync('/usr/bin/bwrap')) {
        expect(r.code).toBe(1);
        expect(r.stderr).toContain('SANDBOX_UNAVAILABLE');
        return;
      }
      expect(r.stderr).toMatch(/Read-only file system|Permission denied/);
      expect(r.code).toBe(0);
      expect(readFileSync(join(s.root, 'in-sandbox.txt'), 'utf8')).toBe('inside\n');
    } finally {
      for (const f of outside) rmSync(f, { force: true });
    }
  });
});
