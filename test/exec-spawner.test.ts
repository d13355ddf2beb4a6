import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { processAlive } from '../src/services/process-tree.js';
import { connect, startServer, type TestServer, type WsClient } from './helpers/server.js';
import { until } from './helpers/until.js';
import { completed, eventsOf } from './helpers/exec.js';

/** Parent pid and command line of a process, from /proc. */
function proc(pid: number): { ppid: number; cmdline: string } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  return { ppid, cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ') };
}

/** The run's exec.started pid, once it arrives. */
function startedPid(c: WsClient, id: string): Promise<number> {
  return c.waitFor(() => eventsOf(c, 'exec.started', id)[0]?.pid, 15_000, `exec.started of ${id}`);
}

describe('runs are started by a helper process, not by forking the server', () => {
  let s: TestServer | undefined;
  let c: WsClient | undefined;
  afterEach(async () => {
    await c?.close();
    await s?.close();
    c = undefined;
    s = undefined;
  });
  /**
   * A server and a client that sees the exec events, once the helper is up: the first run is
   * spawned by the server itself (nobody waits for the helper's start), the helper starts beside it.
   */
  async function serve(): Promise<WsClient> {
    s = await startServer();
    const client = await connect(s);
    await client.call('events.subscribe', { patterns: ['exec.**'] });
    // The first run starts the helper.
    expect((await client.call('exec.run', { language: 'bash', code: 'true', wait: true })).exitCode).toBe(0);
    await until(async () => {
      const r = await client.call('exec.run', { language: 'bash', code: 'sleep 0.2', wait: false });
      const pid = await startedPid(client, r.id);
      let parent = 0;
      try {
        parent = proc(pid).ppid;
      } catch {
        /* already gone */
      }
      await completed(client, r.id);
      return parent !== 0 && parent !== process.pid;
    }, 'runs started by the helper');
    return client;
  }

  it("the first run does not wait for the helper's start: the server spawns it", async () => {
    s = await startServer();
    c = await connect(s);
    await c.call('events.subscribe', { patterns: ['exec.**'] });
    const { id } = await c.call('exec.run', { language: 'bash', code: 'sleep 0.3' });
    expect(proc(await startedPid(c, id)).ppid).toBe(process.pid);
    await completed(c, id);
  });

  it("a run's process is the helper's child; the server's event loop does not fork; the helper goes with the server", async () => {
    c = await serve();
    const { id } = await c.call('exec.run', { language: 'bash', code: 'sleep 0.5; echo done' });
    const pid = await startedPid(c, id);
    const parent = proc(pid).ppid;
    // The server runs in this test process: the run is not its child.
    expect(parent).not.toBe(process.pid);
    const helper = proc(parent);
    expect(helper.cmdline).toContain('spawn-helper');
    expect(helper.ppid).toBe(process.pid);
    const done = await completed(c, id);
    expect(done.exitCode).toBe(0);
    await c.close();
    await s!.close();
    c = undefined;
    s = undefined;
    await until(() => !processAlive(parent), 'the helper to exit with the server');
  });

  it('the helper dying under a run: the run still completes with its exit code, and the next run starts', async () => {
    c = await serve();
    const { id } = await c.call('exec.run', { language: 'bash', code: 'sleep 0.8; echo still here; exit 3' });
    const pid = await startedPid(c, id);
    const helper = proc(pid).ppid;
    process.kill(helper, 'SIGKILL');
    const done = await completed(c, id);
    // The exit code comes from GNU time's report (the helper that would have said it is gone).
    expect(done.exitCode).toBe(3);
    expect(eventsOf(c, 'exec.output', id).map((o) => o.data).join('')).toBe('still here\n');
    // A new helper (or, failing that, the server itself) starts the next run.
    const r = await c.call('exec.run', { language: 'bash', code: 'echo again', wait: true });
    expect(r).toMatchObject({ exitCode: 0, stdout: 'again\n' });
  });

  it('input a program does not read is bounded: past 8 MiB unread, exec.write is LIMIT_EXCEEDED and the server holds no more', async () => {
    s = await startServer();
    c = await connect(s);
    const { id } = await c.call('exec.run', { language: 'bash', code: 'sleep 30' });
    const chunk = 'z'.repeat(1024 * 1024);
    let accepted = 0;
    let refused: any;
    for (let i = 0; i < 12 && !refused; i++) {
      try {
        accepted += (await c.call('exec.write', { id, data: chunk })).bytes;
      } catch (err: any) {
        refused = err;
      }
    }
    expect(refused).toMatchObject({ code: -32008, data: { limit: 'unreadStdinBytes', max: 8 * 1024 * 1024 } });
    // The pipe (64 KiB here) takes a little beyond the 8 MiB before input counts as unread.
    expect(accepted).toBeGreaterThanOrEqual(8 * 1024 * 1024);
    expect(accepted).toBeLessThanOrEqual(9 * 1024 * 1024);
    await c.call('exec.cancel', { id });
  });

  it('a cancel right as the run starts (before GNU time has started the program) still stops it at once, not at the SIGKILL grace', async () => {
    s = await startServer();
    c = await connect(s);
    const slow: number[] = [];
    for (let i = 0; i < 8; i++) {
      const t0 = Date.now();
      const { id } = await c.call('exec.run', { language: 'bash', code: 'sleep 30' });
      // As the server says it started, without a round trip more.
      c.ws.send(JSON.stringify({ jsonrpc: '2.0', id: `cancel-${i}`, method: 'exec.cancel', params: { id } }));
      const run = await until(async () => {
        const x = (await c!.call('exec.list', {})).runs.find((y: any) => y.id === id);
        return x?.status === 'completed' ? x : undefined;
      }, 'the cancelled run to complete');
      expect(run.completion).toMatchObject({ cancelled: true, timedOut: false });
      const ms = Date.now() - t0;
      if (ms >= 1500) slow.push(ms);
    }
    // The kill grace is 2 s: a run that waited for its SIGKILL shows here.
    expect(slow).toEqual([]);
  });

  it('input written right after exec.run reaches the program behind its start, in order', async () => {
    s = await startServer();
    c = await connect(s);
    const { id } = await c.call('exec.run', { language: 'python', code: 'import sys\nprint(sys.stdin.read().upper(), end="")' });
    await c.call('exec.write', { id, data: 'one ' });
    await c.call('exec.write', { id, data: 'two', eof: true });
    await c.call('events.subscribe', { patterns: ['exec.completed'] });
    const hist = await c.call('exec.attach', { id, since: 0 });
    expect(hist.id).toBe(id);
    const out = await c.waitFor(
      () => {
        const text = c!.notifications.filter((n) => n.method === 'exec.output' && n.params.id === id).map((n) => n.params.data).join('');
        return text === 'ONE TWO' ? text : undefined;
      },
      15_000,
      'the upper-cased input',
    );
    expect(out).toBe('ONE TWO');
  });
});
