import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { Text } from '@codemirror/state';
import { startServer, type TestServer } from './helpers/server.js';
import { decodeFrame, utf8Bytes } from '../web/src/panels/frames.js';
import { StreamCursor } from '../web/src/panels/stream-cursor.js';
import { offsetToPosition } from '../web/src/panels/positions.js';
import { toCmCompletions, toCmDiagnostics } from '../web/src/panels/lsp-convert.js';

/**
 * The protocol the web panels rely on, driven the way the panels drive it (binary terminal frames
 * decoded by frames.ts, resumed with StreamCursor; exec.attach notifications; LSP positions mapped
 * by positions.ts) against a real server over a real WebSocket. The browser itself is the e2e test.
 */

/** A socket that, like the page's RpcClient, takes text (JSON-RPC) and binary frames. */
class PageSocket {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: any) => void; reject: (e: any) => void }>();
  readonly notes: { method: string; params: any }[] = [];
  readonly binary: ArrayBuffer[] = [];
  private wakers: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        const b = data as Buffer;
        this.binary.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
      } else {
        const m = JSON.parse(String(data));
        const p = m.id != null ? this.pending.get(m.id) : undefined;
        if (p) {
          this.pending.delete(m.id);
          if (m.error) p.reject(Object.assign(new Error(m.error.message), m.error));
          else p.resolve(m.result);
        } else if (m.method) this.notes.push(m);
      }
      for (const w of this.wakers.splice(0)) w();
    });
  }

  static open(s: TestServer): Promise<PageSocket> {
    const ws = new WebSocket(`${s.wsUrl}?token=${s.token}&kind=browser&name=page`);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new PageSocket(ws)));
      ws.once('error', reject);
    });
  }

  call<T = any>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  async until<T>(pred: () => T | undefined | false, what: string, ms = 10_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = pred();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        this.wakers.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((r) => {
      this.ws.once('close', () => r());
      this.ws.close();
    });
  }
}

/** What the terminal panel shows for one terminal: frames through a StreamCursor. */
function screen(sock: PageSocket, id: string, cursor: StreamCursor, from = 0) {
  let shown = '';
  let lost = 0;
  for (const buf of sock.binary.slice(from)) {
    const f = decodeFrame(buf);
    if (f?.type !== 'terminal' || f.id !== id) continue;
    const r = cursor.accept(f.offset, f.data);
    lost += r.lost;
    shown += new TextDecoder().decode(r.data);
  }
  return { shown, lost };
}

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => {
  await s.close();
});

describe('terminal panel protocol', () => {
  it('binary attach with ack, re-attach after a dropped socket from the cursor, reload replays the scrollback', async () => {
    const a = await PageSocket.open(s);
    // A plain bash (as test/terminals.test.ts): the machine's rc files are not what is tested.
    const t = await a.call('terminal.create', { cols: 80, rows: 24, shell: '/bin/bash', args: ['--norc', '--noprofile'], env: { PS1: '$ ', HISTFILE: '/dev/null' } });
    const r = await a.call('terminal.attach', { id: t.id, encoding: 'binary', ack: true, cols: 100, rows: 30 });
    expect(r.offset).toBe(0);
    const cursor = new StreamCursor(r.offset);
    let view = '';
    await a.call('terminal.write', { id: t.id, data: 'echo one-$((40+2))\r' });
    await a.until(() => {
      view += screen(a, t.id, cursor, 0).shown;
      a.binary.length = 0;
      return view.includes('one-42');
    }, 'first echo');
    // The panel acknowledges rendered bytes with a request (RpcClient has no notify).
    expect(await a.call('terminal.ack', { id: t.id, offset: cursor.next })).toEqual({ ok: true });
    // The resize rule: attaching with a size makes this client's size the PTY's.
    expect((await a.call('terminal.list')).terminals[0]).toMatchObject({ cols: 100, rows: 30 });
    await a.close();

    // A reconnect: a new socket re-attaches from the last byte shown: nothing repeated, nothing lost.
    const b = await PageSocket.open(s);
    const since = cursor.next;
    const r2 = await b.call('terminal.attach', { id: t.id, encoding: 'binary', ack: true, since });
    expect(r2).toMatchObject({ offset: since, truncated: false });
    await b.call('terminal.write', { id: t.id, data: 'echo two-$((40+3))\r' });
    let after = '';
    await b.until(() => {
      const v = screen(b, t.id, cursor, 0);
      b.binary.length = 0;
      expect(v.lost).toBe(0);
      after += v.shown;
      return after.includes('two-43');
    }, 'second echo');
    expect(after).not.toContain('one-42');
    await b.close();

    // A reload: a fresh page attaches without `since` and shows the whole scrollback.
    const c = await PageSocket.open(s);
    const r3 = await c.call('terminal.attach', { id: t.id, encoding: 'binary' });
    const fresh = new StreamCursor(r3.offset);
    let replay = '';
    await c.until(() => {
      replay += screen(c, t.id, fresh, 0).shown;
      c.binary.length = 0;
      return replay.includes('two-43');
    }, 'replay');
    expect(replay).toContain('one-42');
    await c.call('terminal.close', { id: t.id });
    await c.close();
  });
});

describe('run panel protocol', () => {
  it('exec.run {path} then exec.attach streams stdout and stderr by offset, then the completion; a late re-attach adds nothing', async () => {
    writeFileSync(join(s.root, 'hello.py'), 'import sys\nprint("out é")\nprint("err", file=sys.stderr)\nprint("done")\n');
    const p = await PageSocket.open(s);
    const { id } = await p.call('exec.run', { path: 'hello.py' });
    const cursor = new StreamCursor();
    void p.call('exec.attach', { id, since: 0 }); // its reply comes after the completion
    const done = await p.until(() => p.notes.find((n) => n.method === 'exec.completed' && n.params.id === id), 'completion');
    let out = '';
    const streams = new Set<string>();
    for (const n of p.notes) {
      if (n.method !== 'exec.output' || n.params.id !== id) continue;
      streams.add(n.params.stream);
      out += new TextDecoder().decode(cursor.accept(n.params.offset, utf8Bytes(n.params.data)).data);
    }
    expect(out).toContain('out é\n');
    expect(out).toContain('err\n');
    expect(out).toContain('done\n');
    expect([...streams].sort()).toEqual(['stderr', 'stdout']);
    expect(done.params).toMatchObject({ exitCode: 0, cancelled: false });
    expect(cursor.next).toBe(done.params.bytes);

    // The panel re-attaches after a reconnect from its cursor: only the completion comes again.
    p.notes.length = 0;
    await p.call('exec.attach', { id, since: cursor.next });
    expect(p.notes.filter((n) => n.method === 'exec.output')).toEqual([]);
    expect(p.notes.some((n) => n.method === 'exec.completed')).toBe(true);
    await p.close();
  });

  it('Cancel stops a running file (exec.cancel → completion cancelled)', async () => {
    writeFileSync(join(s.root, 'slow.py'), 'import time\nprint("start", flush=True)\ntime.sleep(60)\n');
    const p = await PageSocket.open(s);
    const { id } = await p.call('exec.run', { path: 'slow.py' });
    void p.call('exec.attach', { id, since: 0 }).catch(() => {});
    await p.until(() => p.notes.some((n) => n.method === 'exec.output' && n.params.data.includes('start')), 'start');
    await p.call('exec.cancel', { id });
    const done = await p.until(() => p.notes.find((n) => n.method === 'exec.completed'), 'completion');
    expect(done.params.cancelled).toBe(true);
    await p.close();
  });
});

describe('lsp extensions protocol', () => {
  it('a TypeScript diagnostic maps onto the right characters (UTF-16 past an emoji); completion after "console."', async () => {
    mkdirSync(join(s.root, 'src'), { recursive: true });
    const source = 'const face = "😀😀"; const n: number = "nope";\nconsole.\n';
    writeFileSync(join(s.root, 'src', 'bad.ts'), source);
    const doc = Text.of(source.split('\n'));
    const p = await PageSocket.open(s);
    let set: any[] = [];
    const deadline = Date.now() + 45_000;
    while (!set.some((d) => /number/.test(d.message)) && Date.now() < deadline) {
      const r = await p.call('lsp.diagnostics', { path: 'src/bad.ts' });
      set = r.files.find((f: any) => f.path === 'src/bad.ts')?.diagnostics ?? [];
      if (!set.length) await new Promise((r) => setTimeout(r, 300));
    }
    const cm = toCmDiagnostics(doc, set).find((d) => /number/.test(d.message));
    expect(cm, JSON.stringify(set)).toBeDefined();
    expect(cm!.severity).toBe('error');
    expect(doc.sliceString(cm!.from, cm!.to)).toBe('n');

    const at = doc.line(2).to; // after "console."
    const r = await p.call('lsp.completion', { path: 'src/bad.ts', position: offsetToPosition(doc, at) });
    expect(toCmCompletions(r.items).map((c) => c.label)).toContain('log');
    await p.close();
  }, 60_000);
});
