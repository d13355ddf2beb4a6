import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, rpcError, startServer, type TestServer, type WsClient } from './helpers/server.js';
import { until } from './helpers/until.js';

const fast = { docs: { saveDebounceMs: 30, saveMaxDelayMs: 200 } };

let servers: TestServer[] = [];
let providers: WebsocketProvider[] = [];
let clients: WsClient[] = [];

async function server(config: Parameters<typeof startServer>[0] = fast): Promise<TestServer> {
  const s = await startServer(config);
  servers.push(s);
  return s;
}

/** An unmodified y-websocket provider on the room of `path`. */
function provider(s: TestServer, path: string, doc = new Y.Doc()): WebsocketProvider {
  const p = new WebsocketProvider(s.url.replace(/^http/, 'ws') + '/api/yjs', path, doc, {
    params: { token: s.token },
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
  });
  providers.push(p);
  return p;
}

async function synced(p: WebsocketProvider): Promise<void> {
  await until(() => p.synced, 'provider synced');
}

async function destroy(p: WebsocketProvider): Promise<void> {
  const ws = p.ws as unknown as WebSocket | null;
  p.destroy();
  if (ws && ws.readyState !== WebSocket.CLOSED) await new Promise((r) => ws.once('close', r));
}

afterEach(async () => {
  for (const p of providers) await destroy(p);
  for (const c of clients) await c.close();
  for (const s of servers) await s.close();
  providers = [];
  clients = [];
  servers = [];
});

const range = (l1: number, c1: number, l2: number, c2: number) => ({ start: { line: l1, character: c1 }, end: { line: l2, character: c2 } });
const disk = (s: TestServer, p: string) => readFileSync(join(s.root, p), 'utf8');

describe('docs.* over RPC', () => {
  it('docs.get / applyEdits / save: edits reach disk debounced, positions are UTF-16', async () => {
    const s = await server();
    writeFileSync(join(s.root, 'a.txt'), 'héllo 😀 world\r\nline two\n');
    const g = await s.call('docs.get', { path: 'a.txt' });
    expect(g).toMatchObject({ path: 'a.txt', text: 'héllo 😀 world\r\nline two\n', dirty: false });
    // 😀 is two UTF-16 units: "world" starts at character 9
    const r = await s.call('docs.applyEdits', { path: 'a.txt', baseVersion: g.version, edits: [{ range: range(0, 9, 0, 14), text: 'there' }, { range: range(1, 0, 1, 4), text: 'LINE' }] });
    expect(r.version).toBe(g.version + 1);
    await until(() => disk(s, 'a.txt') === 'héllo 😀 there\r\nLINE two\n', 'saved to disk');
  });

  it('rejects overlapping edits, naming the field; unknown old baseVersion is VERSION_CONFLICT', async () => {
    const s = await server();
    writeFileSync(join(s.root, 'a.txt'), 'abcdef\n');
    const e = await rpcError(s.call('docs.applyEdits', { path: 'a.txt', edits: [{ range: range(0, 0, 0, 3), text: 'x' }, { range: range(0, 2, 0, 4), text: 'y' }] }));
    expect(e.code).toBe(-32602);
    expect(e.data.field).toBe('edits[1].range');
    const line = await rpcError(s.call('docs.applyEdits', { path: 'a.txt', edits: [{ range: range(5, 0, 5, 0), text: 'x' }] }));
    expect(line.data.field).toBe('edits[0].range.start');
    const c = await rpcError(s.call('docs.applyEdits', { path: 'a.txt', baseVersion: 999_999, edits: [{ range: range(0, 0, 0, 0), text: 'x' }] }));
    expect(c.data).toMatchObject({ code: 'VERSION_CONFLICT', baseVersion: 999_999 });
    expect(typeof c.data.currentVersion).toBe('number');
  });

  it('refuses what is not an editable text file with the right codes', async () => {
    const s = await server({ ...fast, limits: { maxDocBytes: 1000 } });
    writeFileSync(join(s.root, 'bin.dat'), Buffer.from([0xff, 0xfe, 0x00, 0x01]));
    writeFileSync(join(s.root, 'big.txt'), 'x'.repeat(1001));
    mkdirSync(join(s.root, 'dir'));
    expect((await rpcError(s.call('docs.get', { path: 'bin.dat' }))).data.code).toBe('NOT_TEXT');
    expect((await rpcError(s.call('docs.get', { path: 'big.txt' }))).data.code).toBe('FILE_TOO_LARGE');
    expect((await rpcError(s.call('docs.get', { path: 'dir' }))).data.code).toBe('IS_A_DIRECTORY');
    expect((await rpcError(s.call('docs.get', { path: 'nope.txt' }))).data.code).toBe('FILE_NOT_FOUND');
    expect((await rpcError(s.call('docs.get', { path: '../outside.txt' }))).data.code).toBe('PATH_OUTSIDE_WORKSPACE');
    expect((await rpcError(s.call('docs.applyEdits', { path: 'bin.dat', edits: [{ range: range(0, 0, 0, 0), text: 'x' }] }))).data.code).toBe('NOT_TEXT');
  });

  it('docs.open holds a document per connection until docs.close or the socket closes; limits apply', async () => {
    const s = await server({ ...fast, limits: { maxDocsPerConnection: 2, maxOpenDocs: 3 } });
    for (const n of ['a', 'b', 'c', 'd']) writeFileSync(join(s.root, `${n}.txt`), n);
    const c = await connect(s);
    clients.push(c);
    await c.call('events.subscribe', { patterns: ['docs.**'] });
    await c.call('docs.open', { path: 'a.txt' });
    await c.call('docs.open', { path: 'a.txt' });
    await c.call('docs.open', { path: 'b.txt' });
    const per = await rpcError(c.call('docs.open', { path: 'c.txt' }));
    expect(per.data).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'maxDocsPerConnection', max: 2 });
    const c2 = await connect(s);
    clients.push(c2);
    await c2.call('docs.open', { path: 'c.txt' });
    const all = await rpcError(c2.call('docs.open', { path: 'd.txt' }));
    expect(all.data).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'maxOpenDocs', max: 3 });
    expect((await s.call('docs.list', {})).docs.map((d: any) => [d.path, d.holders]).sort()).toEqual([['a.txt', 2], ['b.txt', 1], ['c.txt', 1]]);
    expect(await c.call('docs.close', { path: 'a.txt' })).toEqual({ path: 'a.txt', held: 1 });
    await c.call('docs.close', { path: 'a.txt' });
    await c.waitFor(() => c.events().some((e) => e.topic === 'docs.closed' && e.data.path === 'a.txt' && e.data.reason === 'unloaded'), 5000, 'a.txt unloaded');
    await c.close();
    await until(async () => (await s.call('docs.list', {})).docs.map((d: any) => d.path).join() === 'c.txt', 'holds of the closed socket released');
    // over HTTP there is no connection to hold it
    expect((await rpcError(s.call('docs.open', { path: 'a.txt' }))).code).toBe(-32600);
  });
});

describe('live documents with y-websocket providers', () => {
  it('docs.applyEdits from an agent lands in an open provider as an in-place change', async () => {
    const s = await server();
    writeFileSync(join(s.root, 'app.py'), 'def main():\n    print("hi")\n');
    const doc = new Y.Doc();
    const p = provider(s, 'app.py', doc);
    await synced(p);
    const text = doc.getText('content');
    expect(text.toString()).toBe('def main():\n    print("hi")\n');
    const deltas: unknown[] = [];
    text.observe((e) => deltas.push(e.delta));
    const g = await s.call('docs.get', { path: 'app.py' });
    await s.call('docs.applyEdits', { path: 'app.py', baseVersion: g.version, edits: [{ range: range(1, 11, 1, 13), text: 'hello' }] });
    await until(() => text.toString().includes('hello'), 'edit reached the provider');
    expect(text.toString()).toBe('def main():\n    print("hello")\n');
    expect(deltas).toEqual([[{ retain: 23 }, { delete: 2 }, { insert: 'hello' }]]);
  });

  it('files.write to an open document merges in place; concurrent typing is kept', async () => {
    const s = await server();
    writeFileSync(join(s.root, 'n.md'), 'one\ntwo\nthree\n');
    const doc = new Y.Doc();
    const p = provider(s, 'n.md', doc);
    await synced(p);
    const text = doc.getText('content');
    const deltas: any[] = [];
    text.observe((e) => deltas.push(e.delta));
    const st = await s.call('files.stat', { path: 'n.md' });
    await s.call('files.write', { path: 'n.md', content: 'one\nTWO\nthree\n', expectedVersion: st.version });
    await until(() => text.toString() === 'one\nTWO\nthree\n', 'merged');
    expect(deltas.flat().some((op: any) => op.retain === 4)).toBe(true); // "one\n" kept, not replaced
    // now type while the disk changes underneath: both survive
    text.insert(0, '# ');
    writeFileSync(join(s.root, 'n.md'), 'one\nTWO\nthree\nfour\n');
    await until(() => text.toString() === '# one\nTWO\nthree\nfour\n', 'external write merged with typing', 15_000);
    await until(() => disk(s, 'n.md') === '# one\nTWO\nthree\nfour\n', 'merged text saved');
  });

  it('an agent edit with an old baseVersion is rebased over typing made since', async () => {
    const s = await server();
    writeFileSync(join(s.root, 'r.txt'), 'alpha beta gamma\n');
    const doc = new Y.Doc();
    const p = provider(s, 'r.txt', doc);
    await synced(p);
    const g = await s.call('docs.get', { path: 'r.txt' });
    doc.getText('content').insert(0, 'XX ');
    await until(async () => (await s.call('docs.get', { path: 'r.txt' })).version > g.version, 'typing reached the server');
    // "beta" at 6..10 in the text of version g.version
    await s.call('docs.applyEdits', { path: 'r.txt', baseVersion: g.version, edits: [{ range: range(0, 6, 0, 10), text: 'BETA' }] });
    await until(() => doc.getText('content').toString() === 'XX alpha BETA gamma\n', 'rebased edit');
  });

  it('deleting the file closes its peers with 4410 and docs.closed "deleted"; no late save recreates it', async () => {
    const s = await server();
    writeFileSync(join(s.root, 'd.txt'), 'bye\n');
    const c = await connect(s);
    clients.push(c);
    await c.call('events.subscribe', { patterns: ['docs.**'] });
    const doc = new Y.Doc();
    const p = provider(s, 'd.txt', doc);
    const codes: number[] = [];
    p.on('connection-close', (ev: any) => ev && codes.push(ev.code));
    await synced(p);
    doc.getText('content').insert(0, 'unsaved ');
    await s.call('files.delete', { path: 'd.txt' });
    await c.waitFor(() => c.events().some((e) => e.topic === 'docs.closed' && e.data.reason === 'deleted'), 5000, 'docs.closed deleted');
    await until(() => codes.includes(4410), 'peer closed with 4410');
    await destroy(p);
    await new Promise((r) => setTimeout(r, 300)); // past the save debounce
    expect(() => disk(s, 'd.txt')).toThrow();
    expect((await s.call('docs.list', {})).docs).toEqual([]);
  });

  it('steady typing is saved by saveMaxDelayMs, and the last edit saveDebounceMs after it (one save timer per document)', async () => {
    const s = await server({ docs: { saveDebounceMs: 400, saveMaxDelayMs: 800 } });
    writeFileSync(join(s.root, 't.txt'), '');
    const doc = new Y.Doc();
    const p = provider(s, 't.txt', doc);
    await synced(p);
    const text = doc.getText('content');
    // An edit every 50 ms for 2 s: the debounce alone would never fire while typing goes on.
    const savedWhileTyping: string[] = [];
    for (let i = 0; i < 40; i++) {
      text.insert(text.length, `${i};`);
      await new Promise((r) => setTimeout(r, 50));
      const d = disk(s, 't.txt');
      if (d && savedWhileTyping[savedWhileTyping.length - 1] !== d) savedWhileTyping.push(d);
    }
    expect(savedWhileTyping.length).toBeGreaterThan(0);
    text.insert(text.length, 'end');
    await until(() => disk(s, 't.txt') === text.toString(), 'the last edit saved');
  });

  it('the document unloads once the last provider leaves and it is saved', async () => {
    const s = await server({ docs: { saveDebounceMs: 10_000, saveMaxDelayMs: 60_000 } });
    writeFileSync(join(s.root, 'u.txt'), 'x');
    const doc = new Y.Doc();
    const p = provider(s, 'u.txt', doc);
    await synced(p);
    doc.getText('content').insert(1, 'yz');
    await until(async () => (await s.call('docs.list', {})).docs[0]?.dirty, 'dirty');
    await destroy(p);
    // saved at once (not after the 10 s debounce), then unloaded
    await until(async () => (await s.call('docs.list', {})).docs.length === 0, 'unloaded');
    expect(disk(s, 'u.txt')).toBe('xyz');
  });

  it('unsaved typing and an external write made before the save are both kept (VERSION_CONFLICT path)', async () => {
    const s = await server({ docs: { saveDebounceMs: 60_000, saveMaxDelayMs: 60_000 } });
    writeFileSync(join(s.root, 'c.txt'), 'one\ntwo\n');
    const doc = new Y.Doc();
    const p = provider(s, 'c.txt', doc);
    await synced(p);
    doc.getText('content').insert(0, 'typed\n');
    await until(async () => (await s.call('docs.get', { path: 'c.txt' })).dirty, 'typing reached the server');
    writeFileSync(join(s.root, 'c.txt'), 'one\ntwo\nexternal\n');
    await s.call('docs.save', { path: 'c.txt' });
    await until(() => disk(s, 'c.txt') === 'typed\none\ntwo\nexternal\n' && doc.getText('content').toString() === 'typed\none\ntwo\nexternal\n', 'both kept');
  });

  // The races here are real (a save's rename runs in the thread pool while this test writes in
  // place); test/docs-race.test.ts makes each window deterministic. Nothing here is timed: the
  // delays only vary where the writes land.
  it.each(['in place', 'by rename'] as const)('a save racing an external write %s loses nothing (aggressive: 1 ms debounce, writes every 0–5 ms)', async (how) => {
    const s = await server({ docs: { saveDebounceMs: 1, saveMaxDelayMs: 5 } });
    const N = 40;
    writeFileSync(join(s.root, 'race.txt'), 'base\n');
    const doc = new Y.Doc();
    const p = provider(s, 'race.txt', doc);
    await synced(p);
    const text = doc.getText('content');
    for (let i = 0; i < N; i++) {
      text.insert(text.length, `typed${i}\n`);
      // another program appends at the start while icpy is saving
      const cur = disk(s, 'race.txt');
      if (how === 'in place') writeFileSync(join(s.root, 'race.txt'), `ext${i}\n` + cur);
      else {
        writeFileSync(join(s.root, '.race.txt.swp'), `ext${i}\n` + cur);
        renameSync(join(s.root, '.race.txt.swp'), join(s.root, 'race.txt'));
      }
      await new Promise((r) => setTimeout(r, Math.random() * 5));
    }
    // every line exactly once: nothing lost, nothing merged twice
    const lines = (t: string) => t.split('\n').filter(Boolean).sort().join();
    const expected = ['base', ...Array.from({ length: N }, (_, i) => [`typed${i}`, `ext${i}`]).flat()].sort().join();
    await until(() => lines(text.toString()) === expected && disk(s, 'race.txt') === text.toString(), 'every edit on both sides, once', 15_000).catch((e) => {
      throw new Error(`${e.message}\nprovider: ${JSON.stringify(text.toString())}\ndisk: ${JSON.stringify(disk(s, 'race.txt'))}`);
    });
  });
});

describe('history meets open editors', () => {
  it('docs.restore lands in an open provider as an in-place change, and a cursor on unchanged text stays', async () => {
    const s = await server();
    writeFileSync(join(s.root, 'r.txt'), 'keep this line\nold middle\nkeep the end\n');
    const doc = new Y.Doc();
    const p = provider(s, 'r.txt', doc);
    await synced(p);
    const text = doc.getText('content');
    await until(() => text.toString() === 'keep this line\nold middle\nkeep the end\n', 'loaded');
    text.delete(15, 10);
    text.insert(15, 'new middle');
    await s.call('docs.save', { path: 'r.txt' });
    await until(() => disk(s, 'r.txt') === 'keep this line\nnew middle\nkeep the end\n', 'saved');
    const { versions } = await s.call('docs.history', { path: 'r.txt' });
    const first = versions[versions.length - 1].version;
    // A cursor on "end" (unchanged by the restore) must stay on it.
    const cursor = Y.createRelativePositionFromTypeIndex(text, text.toString().indexOf('end'));
    const deltas: unknown[] = [];
    text.observe((e) => deltas.push(e.delta));
    await s.call('docs.restore', { path: 'r.txt', version: first });
    await until(() => text.toString() === 'keep this line\nold middle\nkeep the end\n', 'restored in the provider');
    // In place: every change starts by retaining the unchanged first line; nothing replaced it all.
    expect(deltas.length).toBeGreaterThan(0);
    for (const d of deltas as { retain?: number; insert?: string; delete?: number }[][]) {
      expect(d[0]?.retain).toBeGreaterThanOrEqual(15);
      const deleted = d.reduce((n, op) => n + (op.delete ?? 0), 0);
      expect(deleted).toBeLessThanOrEqual('new middle'.length);
    }
    const abs = Y.createAbsolutePositionFromRelativePosition(cursor, doc);
    expect(text.toString().slice(abs!.index, abs!.index + 3)).toBe('end');
    await until(() => disk(s, 'r.txt') === 'keep this line\nold middle\nkeep the end\n', 'restore saved to disk');
    const after = (await s.call('docs.history', { path: 'r.txt' })).versions;
    expect(after[0].label).toBe(`restored from v${first}`);
  });
});

describe('unpaired surrogates', () => {
  it('docs.applyEdits with a lone surrogate (legal in JSON) stores U+FFFD, saves, and later merges still work', async () => {
    const s = await server();
    writeFileSync(join(s.root, 'u.txt'), 'start\n');
    const doc = new Y.Doc();
    const p = provider(s, 'u.txt', doc);
    await synced(p);
    await s.call('docs.applyEdits', { path: 'u.txt', edits: [{ range: range(0, 5, 0, 5), text: ' \ud83d\ude00 \ud83d x \ude00' }] });
    await s.call('docs.save', { path: 'u.txt' });
    expect(disk(s, 'u.txt')).toBe('start 😀 \ufffd x \ufffd\n');
    // An external change next to it still merges (fast-diff overflowed its stack on lone surrogates).
    writeFileSync(join(s.root, 'u.txt'), 'START 😀 \ufffd x \ufffd\nmore\n');
    await until(() => doc.getText('content').toString() === 'START 😀 \ufffd x \ufffd\nmore\n', 'merged');
  });
});
