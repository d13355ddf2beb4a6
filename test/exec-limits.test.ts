import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processAlive } from '../src/services/process-tree.js';
import { connect, startServer, type TestServer, type WsClient } from './helpers/server.js';
import { until } from './helpers/until.js';
import { completed, eventsOf, joinOutputs, type Output } from './helpers/exec.js';


/** A grandchild that ignores SIGTERM and prints its pid; the parent waits for it. */
const STUBBORN = `bash -c 'trap "" TERM; echo "grandchild $$"; while :; do sleep 0.1; done' & wait`;

async function grandchildPid(c: WsClient, id: string): Promise<number> {
  const line = await c.waitFor(
    () => eventsOf(c, 'exec.output', id).map((o) => o.data).join('').match(/grandchild (\d+)/),
    15_000,
    'the grandchild pid',
  );
  return Number(line![1]);
}

describe('exec limits', () => {
  let s: TestServer;
  let c: WsClient;
  beforeAll(async () => {
    s = await startServer({ exec: { maxConcurrentRuns: 4 } });
    c = await connect(s);
    await c.call('events.subscribe', { patterns: ['exec.**'] });
  });
  afterAll(async () => {
    await c.close();
    await s.close();
  });

  it('a timeout kills the whole group, a grandchild that ignores SIGTERM included', async () => {
    const { id } = await c.call('exec.run', { language: 'bash', code: STUBBORN, timeoutMs: 1500 });
    const pid = await grandchildPid(c, id);
    expect(processAlive(pid)).toBe(true);
    const done = await completed(c, id);
    expect(done).toMatchObject({ timedOut: true, cancelled: false });
    await until(() => !processAlive(pid), 'the grandchild to be gone');
  });

  it('exec.cancel kills the whole group', async () => {
    const { id } = await c.call('exec.run', { language: 'bash', code: STUBBORN });
    const pid = await grandchildPid(c, id);
    const summary = await c.call('exec.cancel', { id });
    expect(summary.id).toBe(id);
    const done = await completed(c, id);
    expect(done).toMatchObject({ timedOut: false, cancelled: true });
    await until(() => !processAlive(pid), 'the grandchild to be gone');
  });

  it('detach: false cancels the run when the caller goes; the default keeps it running', async () => {
    const caller = await connect(s);
    const kept = await caller.call('exec.run', { language: 'bash', code: 'echo "grandchild $$"; sleep 30' });
    const { id } = await caller.call('exec.run', { language: 'bash', code: STUBBORN, detach: false });
    const pid = await grandchildPid(c, id);
    await caller.close();
    const done = await completed(c, id);
    expect(done.cancelled).toBe(true);
    await until(() => !processAlive(pid), 'the grandchild to be gone');
    const { runs } = await c.call('exec.list', {});
    expect(runs.find((r: any) => r.id === kept.id).status).toBe('running');
    await c.call('exec.cancel', { id: kept.id });
    await completed(c, kept.id);
  });

  it('what a program leaves running when it exits is killed with it (no orphans)', async () => {
    const r = await s.call('exec.run', { language: 'bash', code: 'sleep 300 & echo "grandchild $!"', wait: true });
    const pid = Number(/grandchild (\d+)/.exec(r.stdout)![1]);
    await until(() => !processAlive(pid), 'the background job to be gone');
  });

  it('the memory limit stops a program that allocates without end', async () => {
    const r = await s.call('exec.run', {
      language: 'python',
      code: 'x = []\nwhile True: x.append(bytearray(10**6))',
      memoryMb: 200,
      timeoutMs: 60_000,
      wait: true,
    });
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('MemoryError');
    expect(r.maxRssKb).toBeLessThan(260 * 1024);
  });

  it('the memory limit also stops node (RLIMIT_DATA: V8 starts, unlike under RLIMIT_AS)', async () => {
    const r = await s.call('exec.run', {
      language: 'javascript',
      code: 'console.log("started"); const x = []; for (;;) x.push(Buffer.alloc(1e6, 1));',
      memoryMb: 300,
      timeoutMs: 60_000,
      wait: true,
    });
    expect(r.stdout).toBe('started\n');
    expect(r.timedOut).toBe(false);
    expect(r.exitCode === 0).toBe(false);
  });

  it('the CPU limit stops a busy loop', async () => {
    const r = await s.call('exec.run', { language: 'bash', code: 'while :; do :; done', cpuSeconds: 1, timeoutMs: 60_000, wait: true });
    expect(r.timedOut).toBe(false);
    expect(['SIGXCPU', 'SIGKILL']).toContain(r.signal);
    expect(r.cpuMs).toBeGreaterThanOrEqual(500); // GNU time counts in 10 ms ticks; a loaded machine may report a little under 1 s
  });

  it('20 simultaneous runs queue (positions reported) and all complete', async () => {
    const ids: string[] = [];
    const starts = await Promise.all(
      Array.from({ length: 20 }, (_, i) => c.call('exec.run', { language: 'bash', code: `sleep 0.2; echo run${i}` })),
    );
    for (const r of starts) ids.push(r.id);
    expect(starts.filter((r) => r.queued === 0)).toHaveLength(4);
    expect(starts.map((r) => r.queued).filter((q) => q > 0).sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    const done = await Promise.all(ids.map((id) => completed(c, id, 60_000)));
    expect(done.every((d) => d.exitCode === 0)).toBe(true);
    for (let i = 0; i < 20; i++) expect(joinOutputs(eventsOf(c, 'exec.output', ids[i]!)).text).toBe(`run${i}\n`);
    // A queued run is told when it moves up, ending at position 1 before it starts.
    const last = eventsOf(c, 'exec.queued', ids[19]!).map((q) => q.position);
    expect(last[0]).toBe(16);
    expect(last[last.length - 1]).toBe(1);
  });

  it('a full queue is LIMIT_EXCEEDED naming maxQueuedRuns', async () => {
    const s2 = await startServer({ exec: { maxConcurrentRuns: 1, maxQueuedRuns: 1 } });
    try {
      const a = await s2.call('exec.run', { language: 'bash', code: 'sleep 30' });
      const b = await s2.call('exec.run', { language: 'bash', code: 'sleep 30' });
      expect(b.queued).toBe(1);
      const err = await s2.call('exec.run', { language: 'bash', code: 'true' }).catch((e) => e);
      expect(err.data).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'maxQueuedRuns', max: 1 });
      const cancelled = await s2.call('exec.cancel', { id: b.id });
      expect(cancelled.completion.cancelled).toBe(true);
      await s2.call('exec.cancel', { id: a.id });
    } finally {
      await s2.close();
    }
  });
});

describe('exec output', () => {
  it('resumes after a dropped socket with no gap and no duplicate', async () => {
    const s = await startServer();
    try {
      const a = await connect(s);
      const code = 'for i in $(seq 1 400); do echo "line $i"; [ $((i % 20)) = 0 ] && sleep 0.02; done; echo done >&2';
      const { id } = await a.call('exec.run', { language: 'bash', code });
      await a.call('exec.attach', { id });
      const first = () => a.notifications.filter((n) => n.method === 'exec.output' && n.params.id === id).map((n) => n.params as Output);
      await a.waitFor(() => first().length >= 2, 15_000, 'some output');
      a.ws.terminate();
      await a.closed;
      const got = joinOutputs(first());
      const b = await connect(s);
      try {
        const att = await b.call('exec.attach', { id, since: got.end });
        expect(att.offset).toBe(got.end);
        await b.waitFor(() => b.notifications.find((n) => n.method === 'exec.completed' && n.params.id === id), 20_000, 'completion');
        const rest = b.notifications.filter((n) => n.method === 'exec.output' && n.params.id === id).map((n) => n.params as Output);
        const tail = joinOutputs(rest, got.end);
        const all = got.text + tail.text;
        const expected = Array.from({ length: 400 }, (_, i) => `line ${i + 1}\n`).join('') + 'done\n';
        expect(all).toBe(expected);
        // the completion notification comes after the last output
        const last = b.notifications.filter((n) => n.params?.id === id).pop()!;
        expect(last.method).toBe('exec.completed');
        expect(last.params.bytes).toBe(tail.end);
      } finally {
        await b.close();
      }
    } finally {
      await s.close();
    }
  });

  it('a 200 MB flood is capped with a marker, the run keeps its exit code, and server RSS stays bounded', async () => {
    const s = await startServer({ exec: { maxOutputBytes: 8 * 1024 * 1024 } });
    const c = await connect(s);
    try {
      await c.call('events.subscribe', { patterns: ['exec.completed'] });
      const rssBefore = process.memoryUsage().rss;
      let peak = rssBefore;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
      const r = await c.call('exec.run', {
        language: 'python',
        code: 'import sys\nb = b"x" * 65535 + b"\\n"\nfor _ in range(3200): sys.stdout.buffer.write(b)\nsys.exit(5)',
        wait: true,
        timeoutMs: 120_000,
      });
      clearInterval(sampler);
      expect(r.exitCode).toBe(5);
      expect(r.truncated).toBe(true);
      expect(r.stdout.length).toBeLessThan(8 * 1024 * 1024 + 200);
      expect(r.stdout.endsWith('[icpy: output truncated: more than 8388608 bytes]\n')).toBe(true);
      const done = await c.waitFor(() => c.events().find((e) => e.data.id === r.id)?.data, 10_000, 'completion');
      expect(done.droppedBytes).toBeGreaterThan(190 * 1024 * 1024);
      // Stated bound (docs/protocol/exec.md, Limits): the server (in this process) grows by less than 96 MiB while draining 200 MiB.
      console.log(`exec flood: server RSS grew ${Math.round((peak - rssBefore) / 1048576)} MiB`);
      expect(peak - rssBefore).toBeLessThan(96 * 1024 * 1024);
    } finally {
      await c.close();
      await s.close();
    }
  }, 120_000);

  it('a process that left the session and still writes the output after the run ended is killed, and its output goes nowhere', async () => {
    const s = await startServer();
    const c = await connect(s);
    let pid = 0;
    try {
      await c.call('events.subscribe', { patterns: ['exec.completed'] });
      // The escaped writer holds the run's stdout (a file, not a pipe: no SIGPIPE would stop it).
      // It starts writing once the run is over (and its line is one write, not interleaved with the writer's).
      const code = "import subprocess, sys\np = subprocess.Popen(['sh', '-c', 'sleep 0.5; while :; do echo late; done'], start_new_session=True)\nsys.stdout.write(f'writer {p.pid}\\n')";
      const r = await c.call('exec.run', { language: 'python', code, wait: true, timeoutMs: 30_000 });
      pid = Number(/writer (\d+)/.exec(r.stdout)![1]);
      expect(r.exitCode).toBe(0);
      await until(() => !processAlive(pid), 'the escaped writer to be killed', 15_000);
      // The finished run's output is what it was at the end.
      const listed = (await c.call('exec.list', {})).runs.find((x: any) => x.id === r.id);
      expect(listed.bytes).toBe(Buffer.byteLength(r.stdout) + Buffer.byteLength(r.stderr));
    } finally {
      if (pid && processAlive(pid)) process.kill(pid, 'SIGKILL');
      await c.close();
      await s.close();
    }
  });

  it('server shutdown kills every run and its group (no orphans)', async () => {
    const s = await startServer();
    const c = await connect(s);
    await c.call('events.subscribe', { patterns: ['exec.**'] });
    const { id } = await c.call('exec.run', { language: 'bash', code: STUBBORN });
    const pid = await grandchildPid(c, id);
    await c.close();
    await s.close();
    expect(processAlive(pid)).toBe(false);
  });
});
