import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeBinaryOutputFrame } from '../src/services/terminals/output-frame.js';
import { processAlive } from '../src/services/process-tree.js';
import { connect, RpcError, startServer, type TestServer, type WsClient } from './helpers/server.js';

/** A quiet, predictable interactive shell for tests. */
const BASH = { shell: '/bin/bash', args: ['--norc', '--noprofile'], env: { PS1: '$ ', HISTFILE: '/dev/null' } };

interface Output {
  offset: number;
  data: string;
}

function outputs(c: WsClient, id: string): Output[] {
  return c.notifications.filter((n) => n.method === 'terminal.output' && n.params.id === id).map((n) => n.params as Output);
}

/** Concatenated output; asserts that frames are contiguous (no gap, no overlap). */
function stream(c: WsClient, id: string, from?: number): { text: string; end: number } {
  const outs = outputs(c, id);
  let expected = from ?? outs[0]?.offset ?? 0;
  const parts: string[] = [];
  for (const o of outs) {
    expect(o.offset, 'frames must be contiguous').toBe(expected);
    parts.push(o.data);
    expected += Buffer.byteLength(o.data);
  }
  return { text: parts.join(''), end: expected };
}

async function expectRpcError(p: Promise<unknown>, code: number, dataCode?: string): Promise<RpcError> {
  const err = await p.then(
    () => undefined,
    (e) => e,
  );
  expect(err, 'expected an RPC error').toBeInstanceOf(RpcError);
  expect((err as RpcError).code).toBe(code);
  if (dataCode) expect((err as RpcError).data.code).toBe(dataCode);
  return err as RpcError;
}

/** Route binary frames to `onBinary`; text frames go on to the client as usual. */
function onBinary(c: WsClient, onBinary: (data: Buffer) => void): void {
  c.ws.removeAllListeners('message');
  c.ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) return onBinary(data);
    const msg = JSON.parse(data.toString());
    for (const m of Array.isArray(msg) ? msg : [msg]) (c as any).onMessage(m);
  });
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('terminals', () => {
  let s: TestServer;
  const pids: number[] = [];

  beforeAll(async () => {
    s = await startServer({ terminalScrollbackBytes: 8 * 1024 * 1024 });
  });
  afterAll(async () => {
    await s.close();
    // Server shutdown closed every terminal: no shell is left.
    for (const pid of pids) expect(processAlive(pid), `pid ${pid} still alive`).toBe(false);
  });

  async function create(c: WsClient, extra: Record<string, unknown> = {}) {
    const t = await c.call('terminal.create', { ...BASH, cols: 80, rows: 24, ...extra });
    pids.push(t.pid);
    return t;
  }

  it('echoes a command round trip', async () => {
    const c = await connect(s);
    const t = await create(c);
    expect(t).toMatchObject({ status: 'running', cols: 80, rows: 24, cwd: s.app.config.root.replace(/\/$/, '') });
    const a = await c.call('terminal.attach', { id: t.id, since: 0 });
    expect(a).toMatchObject({ id: t.id, offset: 0, truncated: false });
    await c.call('terminal.write', { id: t.id, data: 'echo hello-$((6*7))\r' });
    await c.waitFor(() => stream(c, t.id, 0).text.includes('hello-42\r\n'), 5000, 'echo');
    const list = await c.call('terminal.list', {});
    expect(list.terminals.find((x: any) => x.id === t.id)).toMatchObject({ attached: 1, status: 'running' });
    await c.call('terminal.close', { id: t.id });
    await c.close();
  });

  it('gives two attached clients the identical stream, and input from either goes to the PTY', async () => {
    const a = await connect(s, { name: 'human' });
    const b = await connect(s, { kind: 'agent', name: 'agent' });
    const t = await create(a);
    await a.call('terminal.attach', { id: t.id, since: 0 });
    await b.call('terminal.attach', { id: t.id, since: 0 });
    await a.call('terminal.write', { id: t.id, data: 'seq 1 3000; echo FROM-A\r' });
    await b.waitFor(() => stream(b, t.id, 0).text.includes('FROM-A\r\n'), 5000, 'A output at B');
    await b.call('terminal.write', { id: t.id, data: 'echo FROM-$((1+1))-B\r' });
    await a.waitFor(() => stream(a, t.id, 0).text.includes('FROM-2-B\r\n'), 5000, 'B output at A');
    const { end } = (await a.call('terminal.list', {})).terminals.find((x: any) => x.id === t.id);
    await a.waitFor(() => stream(a, t.id, 0).end >= end, 5000, 'A caught up');
    await b.waitFor(() => stream(b, t.id, 0).end >= end, 5000, 'B caught up');
    const sa = stream(a, t.id, 0).text;
    const sb = stream(b, t.id, 0).text;
    expect(sa.length).toBeGreaterThan(10_000);
    expect(sha(sa)).toBe(sha(sb));
    await a.call('terminal.close', { id: t.id });
    await a.close();
    await b.close();
  });

  it('resumes mid-flood with since: nothing lost, nothing duplicated', async () => {
    const c1 = await connect(s);
    // The shell waits for one line, then prints a known sequence. (It then sleeps: a process
    // that exits may lose its last bytes in node-pty, see docs/protocol/terminals.md.)
    const t = await create(c1, { shell: '/bin/sh', args: ['-c', 'read x; seq 1 200000; echo DONE; exec sleep 60'] });
    await c1.call('terminal.attach', { id: t.id, since: 0 });
    await c1.call('terminal.write', { id: t.id, data: 'go\r' });
    await c1.waitFor(() => stream(c1, t.id, 0).end > 200_000, 10_000, 'some flood output');
    // Drop the socket abruptly, as a network failure would.
    c1.ws.terminate();
    await c1.closed;
    const first = stream(c1, t.id, 0);
    const c2 = await connect(s);
    const a2 = await c2.call('terminal.attach', { id: t.id, since: first.end });
    expect(a2).toMatchObject({ offset: first.end, truncated: false });
    await c2.waitFor(() => stream(c2, t.id, first.end).text.endsWith('DONE\r\n'), 15_000, 'DONE');
    const second = stream(c2, t.id, first.end);
    const lines: string[] = [];
    for (let i = 1; i <= 200000; i++) lines.push(String(i));
    const expected = 'go\r\n' + lines.join('\r\n') + '\r\nDONE\r\n';
    const got = first.text + second.text;
    expect(Buffer.byteLength(got)).toBe(Buffer.byteLength(expected));
    expect(sha(got)).toBe(sha(expected));
    await c2.call('terminal.close', { id: t.id });
    await c2.close();
  });

  it('keeps a terminal running when every client leaves, and lets a new one re-attach', async () => {
    const c1 = await connect(s);
    const t = await create(c1);
    await c1.call('terminal.attach', { id: t.id });
    await c1.call('terminal.write', { id: t.id, data: 'export KEPT=still-$((40+2))\r' });
    await c1.close();
    await new Promise((r) => setTimeout(r, 200));
    const c2 = await connect(s);
    const listed = (await c2.call('terminal.list', {})).terminals.find((x: any) => x.id === t.id);
    expect(listed).toMatchObject({ status: 'running', attached: 0 });
    await c2.call('terminal.attach', { id: t.id });
    await c2.call('terminal.write', { id: t.id, data: 'echo "$KEPT"\r' });
    await c2.waitFor(() => stream(c2, t.id).text.includes('still-42\r\n'), 5000, 'state kept');
    // The whole history is there too (attach without since replays the scrollback).
    expect(stream(c2, t.id).text).toContain('export KEPT=');
    await c2.call('terminal.close', { id: t.id });
    await c2.close();
  });

  it('close kills a background grandchild', async () => {
    const c = await connect(s);
    const t = await create(c);
    await c.call('terminal.attach', { id: t.id });
    await c.call('terminal.write', { id: t.id, data: 'sleep 1000 & echo "BG=$!"\r' });
    const m = (await c.waitFor(() => /BG=(\d+)/.exec(stream(c, t.id).text), 5000, 'background pid'))!;
    const bg = Number(m[1]);
    expect(processAlive(bg)).toBe(true);
    const sub = await c.call('events.subscribe', { patterns: ['terminal.*'] });
    expect(sub).toBeTruthy();
    await c.call('terminal.close', { id: t.id });
    // SIGKILL is sent before close answers; on a loaded machine the target may run once more
    // before it is gone, so allow it a moment (it would live for 1000 s otherwise).
    await c.waitFor(() => !processAlive(bg) && !processAlive(t.pid), 3000, 'the group is gone');
    await c.waitFor(() => c.events().find((e) => e.topic === 'terminal.closed' && e.data.id === t.id), 5000, 'terminal.closed');
    await c.waitFor(() => c.notifications.find((n) => n.method === 'terminal.detached' && n.params.reason === 'closed'), 5000, 'detached notice');
    await expectRpcError(c.call('terminal.write', { id: t.id, data: 'x' }), -32030, 'TERMINAL_NOT_FOUND');
    await c.close();
  });

  it('applies resize so the shell sees it, with the most recent active client winning', async () => {
    const a = await connect(s);
    const b = await connect(s);
    const t = await create(a);
    await a.call('terminal.attach', { id: t.id, cols: 100, rows: 30 });
    await b.call('terminal.attach', { id: t.id });
    await b.call('terminal.resize', { id: t.id, cols: 123, rows: 45 });
    await a.call('terminal.write', { id: t.id, data: '' });
    // a typed, so its size (100x30) came back; b typing makes its 123x45 current again.
    await b.call('terminal.write', { id: t.id, data: 'echo "C=$(tput cols) R=$(tput lines)"\r' });
    await b.waitFor(() => stream(b, t.id).text.includes('C=123 R=45'), 5000, 'tput sees 123x45');
    await a.call('terminal.write', { id: t.id, data: 'echo "C=$(tput cols) R=$(tput lines)"\r' });
    await a.waitFor(() => stream(a, t.id).text.includes('C=100 R=30'), 5000, 'tput sees 100x30 after a typed');
    const listed = (await a.call('terminal.list', {})).terminals.find((x: any) => x.id === t.id);
    expect(listed).toMatchObject({ cols: 100, rows: 30 });
    await a.call('terminal.close', { id: t.id });
    await a.close();
    await b.close();
  });

  it('never corrupts UTF-8 split across reads, in json and binary delivery', async () => {
    const text = '€😀ä漢'.repeat(40_000); // ~480 KB of 2-, 3- and 4-byte characters, no newline
    writeFileSync(join(s.root, 'utf8.txt'), text);
    const c = await connect(s);
    const t = await create(c, { shell: '/bin/sh', args: ['-c', 'read x; cat utf8.txt; echo; echo END; exec sleep 60'] });
    await c.call('terminal.attach', { id: t.id, since: 0 });
    const bin: Buffer[] = [];
    const raw = await connect(s);
    onBinary(raw, (data) => bin.push(Buffer.from(decodeBinaryOutputFrame(data).data)));
    await raw.call('terminal.attach', { id: t.id, since: 0, encoding: 'binary' });
    await c.call('terminal.write', { id: t.id, data: 'go\r' });
    await c.waitFor(() => stream(c, t.id, 0).text.endsWith('END\r\n'), 10_000, 'END');
    await raw.waitFor(() => Buffer.concat(bin).toString('utf8').endsWith('END\r\n'), 10_000, 'END (binary)');
    const got = stream(c, t.id, 0).text;
    expect(got).toBe('go\r\n' + text + '\r\nEND\r\n');
    expect(Buffer.concat(bin).toString('utf8')).toBe(got);
    // A resume offset in the middle of a character moves to the next character start.
    const c3 = await connect(s);
    const mid = Buffer.byteLength('go\r\n') + 1; // inside '€'
    const r = await c3.call('terminal.attach', { id: t.id, since: mid });
    expect(r.offset).toBe(mid);
    await c3.waitFor(() => outputs(c3, t.id).length > 0, 5000, 'replay');
    expect(outputs(c3, t.id)[0]!.offset).toBe(Buffer.byteLength('go\r\n€'));
    expect(outputs(c3, t.id)[0]!.data.startsWith('😀')).toBe(true);
    await c.call('terminal.close', { id: t.id });
    await Promise.all([c.close(), raw.close(), c3.close()]);
  });

  it('terminal.run returns output and exit code, and times out cleanly', async () => {
    const c = await connect(s, { kind: 'agent', name: 'runner' });
    await c.call('events.subscribe', { patterns: ['terminal.*'] });
    const r = await c.call('terminal.run', { command: 'echo out-$((2*21)); echo err >&2; exit 3', timeout: 10_000 });
    expect(r).toMatchObject({ exitCode: 3, signal: null, timedOut: false, truncated: false });
    expect(r.output).toBe('out-42\nerr\n');
    // It ran in a visible terminal: others saw it created and exit, with the agent as source.
    const created = await c.waitFor(() => c.events().find((e) => e.topic === 'terminal.created' && e.data.id === r.id), 5000, 'created');
    expect(created.source).toMatchObject({ kind: 'agent', name: 'runner' });
    await c.waitFor(() => c.events().find((e) => e.topic === 'terminal.exited' && e.data.id === r.id && e.data.code === 3), 5000, 'exited');

    const started = Date.now();
    const slow = await c.call('terminal.run', { command: 'echo begin; sleep 30 & sleep 30; echo never', timeout: 500 });
    expect(slow).toMatchObject({ timedOut: true, exitCode: null });
    expect(slow.output).toContain('begin');
    expect(slow.output).not.toContain('never');
    expect(Date.now() - started).toBeLessThan(10_000);
    const listed = (await c.call('terminal.list', {})).terminals.find((x: any) => x.id === slow.id);
    expect(listed).toMatchObject({ status: 'exited' });
    expect(processAlive(listed.pid)).toBe(false);

    const cwdRun = await c.call('terminal.run', { command: 'pwd', cwd: '.', timeout: 5000 });
    expect(cwdRun.output.trim()).toBe(s.app.config.root);
    for (const id of [r.id, slow.id, cwdRun.id]) await c.call('terminal.close', { id });
    await c.close();
  });

  it('gives clear errors for bad ids, sizes, offsets and paths', async () => {
    const c = await connect(s);
    await expectRpcError(c.call('terminal.write', { id: 'nope', data: 'x' }), -32030, 'TERMINAL_NOT_FOUND');
    await expectRpcError(c.call('terminal.attach', { id: 'nope' }), -32030, 'TERMINAL_NOT_FOUND');
    await expectRpcError(c.call('terminal.resize', { id: 'nope', cols: 10, rows: 10 }), -32030, 'TERMINAL_NOT_FOUND');
    await expectRpcError(c.call('terminal.close', { id: 'nope' }), -32030, 'TERMINAL_NOT_FOUND');
    const e1 = await expectRpcError(c.call('terminal.create', { cols: 0, rows: 24 }), -32602, 'INVALID_PARAMS');
    expect(e1.data.field).toBe('cols');
    const e2 = await expectRpcError(c.call('terminal.create', { cols: 80, rows: 24.5 }), -32602);
    expect(e2.data.field).toBe('rows');
    const e3 = await expectRpcError(c.call('terminal.create', { cols: 80, rows: 24, colour: 'red' }), -32602);
    expect(e3.data.field).toBe('colour');
    await expectRpcError(c.call('terminal.create', { cols: 80, rows: 24, cwd: '../..' }), -32021, 'PATH_OUTSIDE_WORKSPACE');
    await expectRpcError(c.call('terminal.create', { cols: 80, rows: 24, cwd: '/' }), -32021, 'PATH_OUTSIDE_WORKSPACE');
    await expectRpcError(c.call('terminal.create', { cols: 80, rows: 24, cwd: 'missing' }), -32020, 'FILE_NOT_FOUND');
    const e6 = await expectRpcError(c.call('terminal.create', { cols: 80, rows: 24, shell: '/nonexistent/shell' }), -32602);
    expect(e6.data.field).toBe('shell');
    const t = await create(c);
    const e4 = await expectRpcError(c.call('terminal.resize', { id: t.id, cols: 80, rows: 100_000 }), -32602);
    expect(e4.data.field).toBe('rows');
    const e5 = await expectRpcError(c.call('terminal.attach', { id: t.id, since: 10_000_000 }), -32602);
    expect(e5.data.field).toBe('since');
    await c.call('terminal.attach', { id: t.id });
    await c.call('terminal.write', { id: t.id, data: 'exit 7\r' });
    const exitNote = await c.waitFor(() => c.notifications.find((n) => n.method === 'terminal.exit'), 5000, 'terminal.exit');
    expect(exitNote.params).toMatchObject({ id: t.id, code: 7, signal: null });
    expect(exitNote.params.offset).toBe(stream(c, t.id).end);
    await c.call('events.subscribe', { patterns: ['terminal.exited'], since: 0 });
    const ex = await c.waitFor(() => c.events().find((e) => e.data.id === t.id), 5000, 'exited');
    expect(ex.data).toMatchObject({ code: 7, signal: null });
    await expectRpcError(c.call('terminal.write', { id: t.id, data: 'x' }), -32031, 'TERMINAL_EXITED');
    // Over HTTP (no live connection) attach is refused clearly.
    const http = await s.rpc({ jsonrpc: '2.0', id: 1, method: 'terminal.attach', params: { id: t.id } });
    expect(http.body.error.code).toBe(-32600);
    await c.call('terminal.rename', { id: t.id, name: 'renamed' });
    expect((await c.call('terminal.list', {})).terminals.find((x: any) => x.id === t.id).name).toBe('renamed');
    await c.call('terminal.close', { id: t.id });
    await c.close();
  });
});

describe('terminals: scrollback limits, flow control and idle timeout', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({
      terminalScrollbackBytes: 64 * 1024,
      terminalHighWaterBytes: 256 * 1024,
      terminalStallTimeoutMs: 1500,
      terminalIdleTimeoutMs: 1500,
    });
  });
  afterAll(async () => {
    await s.close();
  });

  it('attach with an offset older than the scrollback says so and replays from the oldest kept byte', async () => {
    const c = await connect(s);
    const t = await c.call('terminal.create', { shell: '/bin/sh', args: ['-c', 'seq 1 100000; sleep 30'], cols: 80, rows: 24 });
    await c.call('terminal.attach', { id: t.id, since: 0 });
    await c.waitFor(() => stream(c, t.id, 0).text.includes('\r\n100000\r\n'), 10_000, 'all output');
    const c2 = await connect(s);
    const r = await c2.call('terminal.attach', { id: t.id, since: 10 });
    expect(r.truncated).toBe(true);
    expect(r.offset).toBeGreaterThan(10);
    expect(r.offset).toBe(r.start);
    expect(r.end - r.start).toBeLessThanOrEqual(64 * 1024);
    await c2.waitFor(() => stream(c2, t.id, r.offset).end >= r.end, 5000, 'replay');
    const full = stream(c, t.id, 0).text;
    const replay = stream(c2, t.id, r.offset).text;
    expect(full.endsWith(replay)).toBe(true);
    expect(replay.length).toBeGreaterThan(60 * 1024);
    await c.call('terminal.close', { id: t.id });
    await Promise.all([c.close(), c2.close()]);
  });

  it('a yes flood with one stalled client keeps memory bounded, and the stalled client is detached', async () => {
    const reader = await connect(s, { name: 'reader' });
    const t = await reader.call('terminal.create', { shell: '/usr/bin/yes', args: ['icpy-flood-line'], cols: 80, rows: 24 });
    // A client that stops reading: its TCP socket is paused right after attaching.
    const stalled = await connect(s, { name: 'stalled' });
    onBinary(stalled, () => {});
    await stalled.call('terminal.attach', { id: t.id, encoding: 'binary' });
    (stalled.ws as any)._socket.pause();
    // The reader counts bytes without keeping them.
    let received = 0;
    let frames = 0;
    onBinary(reader, (data) => {
      received += data.length - 10 - t.id.length;
      frames++;
    });
    await reader.call('terminal.attach', { id: t.id, encoding: 'binary' });
    const rss0 = process.memoryUsage().rss;
    let rssMax = rss0;
    const sample = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 50);
    try {
      // While the stalled client holds it, the PTY is paused (output stops growing).
      await new Promise((r) => setTimeout(r, 800));
      const during = (await reader.call('terminal.list', {})).terminals.find((x: any) => x.id === t.id);
      expect(during.paused).toBe(true);
      expect(during.attached).toBe(2);
      // After the stall timeout the stalled client is dropped and the flood resumes.
      const deadline = Date.now() + 10_000;
      let after: any;
      do {
        await new Promise((r) => setTimeout(r, 200));
        after = (await reader.call('terminal.list', {})).terminals.find((x: any) => x.id === t.id);
      } while (after.attached !== 1 && Date.now() < deadline);
      expect(after.attached).toBe(1);
      const before = received;
      await new Promise((r) => setTimeout(r, 2000));
      expect(received - before).toBeGreaterThan(10 * 1024 * 1024);
    } finally {
      clearInterval(sample);
    }
    const grown = rssMax - rss0;
    console.log(JSON.stringify({ test: 'yes-flood', receivedMB: +(received / 1e6).toFixed(1), frames, rssGrowthMB: +(grown / 1048576).toFixed(1) }));
    // Stated bound: the server (in this process) grows by less than 150 MiB however long the flood runs.
    expect(grown).toBeLessThan(150 * 1024 * 1024);
    await reader.call('terminal.close', { id: t.id });
    stalled.ws.terminate();
    await Promise.all([reader.close(), stalled.closed]);
  });

  it('culls a terminal nobody is attached to after the idle timeout', async () => {
    const c = await connect(s);
    await c.call('events.subscribe', { patterns: ['terminal.closed'] });
    const t = await c.call('terminal.create', { ...BASH, cols: 80, rows: 24 });
    await c.call('terminal.attach', { id: t.id });
    await new Promise((r) => setTimeout(r, 2000));
    // Attached: kept.
    expect((await c.call('terminal.list', {})).terminals.find((x: any) => x.id === t.id)).toBeTruthy();
    await c.call('terminal.detach', { id: t.id });
    const ev = await c.waitFor(() => c.events().find((e) => e.data.id === t.id), 8000, 'idle close');
    expect(ev.data.reason).toBe('idle');
    expect(processAlive(t.pid)).toBe(false);
    await c.close();
  });
});
