import { describe, expect, it } from 'vitest';
import { decodeBinaryExecOutput } from '../src/services/exec/output-frame.js';
import { connect, startServer, type WsClient } from './helpers/server.js';

interface Frame {
  id: string;
  stream: 'stdout' | 'stderr';
  offset: number;
  data: Buffer;
}

/** Route binary frames to `onFrame`; text frames go on to the client as usual. */
function onBinary(c: WsClient, onFrame: (data: Buffer) => void): void {
  c.ws.removeAllListeners('message');
  c.ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) return onFrame(data);
    const msg = JSON.parse(data.toString());
    for (const m of Array.isArray(msg) ? msg : [msg]) (c as any).onMessage(m);
  });
}

/** Concatenate frames, asserting each starts where the previous ended (no gap, no duplicate). */
function joinFrames(frames: Frame[], from = 0): { bytes: Buffer; end: number } {
  let expected = from;
  for (const f of frames) {
    expect(f.offset, 'frames must be contiguous').toBe(expected);
    expected += f.data.length;
  }
  return { bytes: Buffer.concat(frames.map((f) => f.data)), end: expected };
}

describe('exec.attach encoding: binary', () => {
  it('binary frames resume after a dropped socket with no gap and no duplicate (UTF-8 whole, streams tagged)', async () => {
    const s = await startServer();
    try {
      const a = await connect(s);
      const code = 'for i in $(seq 1 400); do echo "ligne $i é€😀"; [ $((i % 20)) = 0 ] && sleep 0.02; done; echo fin >&2';
      const { id } = await a.call('exec.run', { language: 'bash', code });
      const first: Frame[] = [];
      onBinary(a, (d) => first.push(decodeBinaryExecOutput(d) as Frame));
      const att = await a.call('exec.attach', { id, since: 0, encoding: 'binary' });
      expect(att).toMatchObject({ id, offset: 0, encoding: 'binary' });
      await a.waitFor(() => first.length >= 2, 15_000, 'some output');
      a.ws.terminate();
      await a.closed;
      for (const f of first) expect(f.id).toBe(id);
      const got = joinFrames(first);
      const b = await connect(s);
      try {
        const rest: Frame[] = [];
        onBinary(b, (d) => rest.push(decodeBinaryExecOutput(d) as Frame));
        const att2 = await b.call('exec.attach', { id, since: got.end, encoding: 'binary' });
        expect(att2.offset).toBe(got.end);
        const done = await b.waitFor(() => b.notifications.find((n) => n.method === 'exec.completed' && n.params.id === id), 20_000, 'completion');
        const tail = joinFrames(rest, got.end);
        const expected = Array.from({ length: 400 }, (_, i) => `ligne ${i + 1} é€😀\n`).join('');
        const all = Buffer.concat([got.bytes, tail.bytes]);
        const stdout = [...first, ...rest].filter((f) => f.stream === 'stdout');
        const stderr = [...first, ...rest].filter((f) => f.stream === 'stderr');
        expect(Buffer.concat(stdout.map((f) => f.data)).toString('utf8')).toBe(expected);
        expect(Buffer.concat(stderr.map((f) => f.data)).toString('utf8')).toBe('fin\n');
        expect(all.length).toBe(Buffer.byteLength(expected) + 4);
        // Every frame is whole characters: each decodes on its own without a replacement character.
        for (const f of [...first, ...rest]) expect(f.data.toString('utf8')).not.toContain('\uFFFD');
        expect(done.params.bytes).toBe(tail.end);
      } finally {
        await b.close();
      }
    } finally {
      await s.close();
    }
  });

  it('the json encoding is the default and unchanged: exec.output notifications', async () => {
    const s = await startServer();
    const c = await connect(s);
    try {
      const { id } = await c.call('exec.run', { language: 'bash', code: 'printf "a\\tb\\n"' });
      const att = await c.call('exec.attach', { id });
      expect(att.encoding).toBe('json');
      await c.waitFor(() => c.notifications.find((n) => n.method === 'exec.completed' && n.params.id === id), 15_000, 'completion');
      const outs = c.notifications.filter((n) => n.method === 'exec.output' && n.params.id === id).map((n) => n.params);
      expect(outs).toEqual([{ id, stream: 'stdout', offset: 0, data: 'a\tb\n' }]);
    } finally {
      await c.close();
      await s.close();
    }
  });
});

describe('exec.output events in the broker', () => {
  it('events.history (WebSocket and HTTP) and a subscriber still get every exec.output event whole, also for a run watched over binary frames', async () => {
    const s = await startServer();
    const c = await connect(s);
    const w = await connect(s);
    try {
      await w.call('events.subscribe', { patterns: ['exec.output'] });
      const { lastSeq } = await c.call('events.history', { since: 0, limit: 1 });
      onBinary(c, () => {});
      const code = 'for i in $(seq 1 50); do echo "ligne $i é"; done; echo fin >&2';
      const { id } = await c.call('exec.run', { language: 'bash', code });
      await c.call('exec.attach', { id, since: 0, encoding: 'binary' });
      await c.waitFor(() => c.notifications.find((n) => n.method === 'exec.completed' && n.params.id === id), 15_000, 'completion');
      const expected = Array.from({ length: 50 }, (_, i) => `ligne ${i + 1} é\n`).join('');
      const check = (outs: { id: string; stream: string; offset: number; data: string }[]) => {
        const mine = outs.filter((o) => o.id === id);
        let next = 0;
        for (const o of mine) {
          expect(o.offset).toBe(next);
          next += Buffer.byteLength(o.data);
        }
        expect(mine.filter((o) => o.stream === 'stdout').map((o) => o.data).join('')).toBe(expected);
        expect(mine.filter((o) => o.stream === 'stderr').map((o) => o.data).join('')).toBe('fin\n');
      };
      const h = await c.call('events.history', { since: lastSeq, patterns: ['exec.output'], limit: 1000 });
      check(h.events.map((e: any) => e.data));
      const res = await s.rpc({ jsonrpc: '2.0', id: 1, method: 'events.history', params: { since: lastSeq, patterns: ['exec.output'], limit: 1000 } });
      check(res.body.result.events.map((e: any) => e.data));
      await w.waitFor(() => w.notifications.filter((n) => n.method === 'event' && n.params.data?.id === id).map((n) => n.params.data.data).join('').includes('ligne 50'), 15_000, 'subscriber output');
      check(w.notifications.filter((n) => n.method === 'event' && n.params.topic === 'exec.output').map((n) => n.params.data));
    } finally {
      await w.close();
      await c.close();
      await s.close();
    }
  });
});

/** Python writing `total` bytes (a multiple of 64 KiB) of `ch` in 64 KiB lines, then `after`. */
function flood(total: number, ch: string, after = ''): string {
  return `import sys\nb = b"${ch}" * 65535 + b"\\n"\nfor _ in range(${total / 65536}): sys.stdout.buffer.write(b)\n${after}`;
}

describe('exec flow control', () => {
  it('a client that stops reading neither holds the program back nor grows the server; it then catches up whole, in order', async () => {
    const total = 96 * 1024 * 1024;
    // The cap above the flood: all of it is kept (in the run's output file, not in the server's memory).
    const s = await startServer({ exec: { maxOutputBytes: 256 * 1024 * 1024 } });
    const c = await connect(s);
    const watcher = await connect(s);
    try {
      let received = 0;
      let next = 0;
      let contiguous = true;
      onBinary(c, (d) => {
        const f = decodeBinaryExecOutput(d);
        if (f.offset !== next) contiguous = false;
        next = f.offset + f.data.length;
        received += f.data.length;
      });
      const code = flood(total, 'x');
      const { id } = await c.call('exec.run', { language: 'python', code, timeoutMs: 120_000 });
      // Stop reading the socket right after the attach reply: the server's buffer fills, and what
      // the connection lacks waits in the output file.
      await c.call('exec.attach', { id, since: 0, encoding: 'binary' });
      (c.ws as any)._socket.pause();
      const rss0 = process.memoryUsage().rss;
      let rssMax = rss0;
      const sample = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 20);
      const bytesOf = async () => (await watcher.call('exec.list', {})).runs.find((r: any) => r.id === id);
      let run: any;
      try {
        // The program is not held back by a connection that does not read: it finishes.
        const until = Date.now() + 60_000;
        while ((run = await bytesOf()).status !== 'completed' && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
        expect(run.status).toBe('completed');
        console.log(JSON.stringify({ test: 'exec-stalled-client', bytesMB: +(run.bytes / 1048576).toFixed(1), receivedMB: +(received / 1048576).toFixed(1), rssGrowthMB: +((rssMax - rss0) / 1048576).toFixed(1) }));
        expect(run.bytes).toBe(total);
        // The stalled connection got only what its buffers hold.
        expect(received).toBeLessThan(32 * 1024 * 1024);
        // Stated bound: the server (in this process) grows by less than 64 MiB while the client is stalled.
        expect(rssMax - rss0).toBeLessThan(64 * 1024 * 1024);
      } finally {
        clearInterval(sample);
      }
      // Reading again: every byte arrives, in order, read back from the output file.
      (c.ws as any)._socket.resume();
      const done = await c.waitFor(() => c.notifications.find((n) => n.method === 'exec.completed' && n.params.id === id), 90_000, 'completion');
      expect(done.params.exitCode).toBe(0);
      expect(received).toBe(total);
      expect(contiguous).toBe(true);
    } finally {
      await watcher.close();
      await c.close();
      await s.close();
    }
  }, 120_000);

  it('a connection that reads is not held back by one attached to the same run that does not: it gets the flood whole, long before the stall timeout', async () => {
    const total = 24 * 1024 * 1024;
    const s = await startServer({ exec: { maxOutputBytes: 64 * 1024 * 1024 } });
    const slow = await connect(s);
    const fast = await connect(s);
    try {
      // The flood, then the program lives on for 4 s: what the fast connection gets meanwhile is
      // not the end-of-run catch-up.
      const code = flood(total, 'y', 'sys.stdout.flush()\nimport time\ntime.sleep(4)');
      const { id } = await fast.call('exec.run', { language: 'python', code, timeoutMs: 60_000 });
      onBinary(slow, () => {});
      await slow.call('exec.attach', { id, since: 0, encoding: 'binary' });
      (slow.ws as any)._socket.pause();
      let received = 0;
      let next = 0;
      onBinary(fast, (d) => {
        const f = decodeBinaryExecOutput(d);
        expect(f.offset).toBe(next);
        next = f.offset + f.data.length;
        received += f.data.length;
      });
      const t0 = Date.now();
      await fast.call('exec.attach', { id, since: 0, encoding: 'binary' });
      // The reading is paced by the fastest connection: the one that does not read (10 s before
      // it would stop holding anything back) does not hold this one to its 2 MiB read-ahead.
      await fast.waitFor(() => received === total || undefined, 3500, 'the whole flood while the program still runs');
      expect(Date.now() - t0).toBeLessThan(3500);
      const done = await fast.waitFor(() => fast.notifications.find((n) => n.method === 'exec.completed' && n.params.id === id), 30_000, 'completion');
      expect(done.params.bytes).toBe(total);
      expect(received).toBe(total);
    } finally {
      (slow.ws as any)._socket.resume();
      await fast.close();
      await slow.close();
      await s.close();
    }
  }, 60_000);

  it('after the program is gone, a connection that does not read holds exec.completed back for about a second, not until it stalls', async () => {
    const total = 16 * 1024 * 1024;
    const s = await startServer({ exec: { maxOutputBytes: 64 * 1024 * 1024 } });
    const c = await connect(s);
    const watcher = await connect(s);
    try {
      await watcher.call('events.subscribe', { patterns: ['exec.completed'] });
      const code = flood(total, 'z');
      const { id } = await c.call('exec.run', { language: 'python', code, timeoutMs: 60_000 });
      let received = 0;
      onBinary(c, (d) => (received += decodeBinaryExecOutput(d).data.length));
      await c.call('exec.attach', { id, since: 0, encoding: 'binary' });
      (c.ws as any)._socket.pause();
      const t0 = Date.now();
      const ev = await watcher.waitFor(
        () => watcher.notifications.find((n) => n.params?.topic === 'exec.completed' && n.params?.data?.id === id),
        20_000,
        'exec.completed for the watcher',
      );
      const ms = Date.now() - t0;
      expect(ev.params.data.bytes).toBe(total);
      // The program writes 16 MiB in well under a second; then the stalled connection holds the
      // last reading back for 1 s (FINAL_PACE_MS), not the 10 s after which it would count as stalled.
      expect(ms).toBeGreaterThanOrEqual(900);
      expect(ms).toBeLessThan(5000);
      (c.ws as any)._socket.resume();
      await c.waitFor(() => c.notifications.find((n) => n.method === 'exec.completed' && n.params.id === id), 30_000, 'completion');
      expect(received).toBe(total);
    } finally {
      await watcher.close();
      await c.close();
      await s.close();
    }
  }, 60_000);
});
