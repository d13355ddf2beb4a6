import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { encodeAwareness } from '../src/services/docs/awareness-wire.js';
import { connect, startServer, type TestServer, type WsClient } from './helpers/server.js';
import { until } from './helpers/until.js';

/** presence.* over real sockets, with unmodified y-websocket providers. */

const TEXT = 'import os\n\ndef main():\n    print("hi")\n';

function provider(s: TestServer, path: string, params: Record<string, string> = {}) {
  const doc = new Y.Doc();
  const p = new WebsocketProvider(s.url.replace(/^http/, 'ws') + '/api/yjs', path, doc, {
    params: { token: s.token, ...params },
    WebSocketPolyfill: WebSocket as never,
    disableBc: true, // two providers in one process must meet through the server, not a BroadcastChannel
  });
  const synced = new Promise<void>((resolve) => p.once('sync', () => resolve()));
  return {
    doc,
    text: doc.getText('content'),
    provider: p,
    awareness: p.awareness,
    synced,
    /** The other clients' states this provider sees. */
    others(): Record<string, any>[] {
      return [...p.awareness.getStates()].filter(([id]) => id !== doc.clientID).map(([, st]) => st);
    },
    destroy() {
      p.destroy();
      doc.destroy();
    },
  };
}
type Provider = ReturnType<typeof provider>;

describe('presence over real sockets', () => {
  let s: TestServer;
  const made: { destroy(): void }[] = [];
  const clients: WsClient[] = [];
  beforeAll(async () => {
    s = await startServer({ docs: { presenceTimeoutMs: 400 } });
    writeFileSync(join(s.root, 'app.py'), TEXT);
    writeFileSync(join(s.root, 'notes.md'), 'one\ntwo\n');
  });
  afterAll(async () => {
    for (const p of made) p.destroy();
    for (const c of clients) await c.close();
    await s.close();
  });
  const open = async (path: string, params?: Record<string, string>): Promise<Provider> => {
    const p = provider(s, path, params);
    made.push(p);
    await p.synced;
    return p;
  };
  const ws = async (kind = 'agent', name = 'agent-1') => {
    const c = await connect(s, { kind, name });
    clients.push(c);
    return c;
  };

  it('a provider\'s awareness (user, cursor) shows in presence.list over WS RPC, and leaves at once when it disconnects', async () => {
    const p = await open('app.py', { kind: 'browser', name: 'ada-laptop' });
    const rpc = await ws('cli', 'watcher');
    p.awareness.setLocalStateField('user', { name: 'Ada', color: '#ff8800' });
    p.awareness.setLocalStateField('cursor', {
      anchor: Y.createRelativePositionFromTypeIndex(p.text, TEXT.indexOf('main')),
      head: Y.createRelativePositionFromTypeIndex(p.text, TEXT.indexOf('main') + 4),
    });
    const entry = await until(async () => (await rpc.call('presence.list', { path: 'app.py' })).find((e: any) => e.name === 'Ada'), 'Ada in presence.list');
    expect(entry).toMatchObject({
      via: 'yjs',
      kind: 'browser',
      color: '#ff8800',
      activeFile: 'app.py',
      cursor: { line: 2, character: 8 },
      selection: { anchor: { line: 2, character: 4 }, head: { line: 2, character: 8 } },
    });
    const conns = await rpc.call('connections.list', {});
    expect(conns.find((c: any) => c.id === entry.connectionId)?.name).toBe('ada-laptop');

    p.provider.disconnect();
    await until(async () => !(await rpc.call('presence.list', {})).some((e: any) => e.name === 'Ada'), 'Ada gone after disconnect', 5000);
  });

  it('presence.update from an agent shows in a provider\'s awareness.getStates() with a cursor in its Y.Text; gone when its socket closes', async () => {
    const p = await open('app.py');
    const agent = await ws('agent', 'review-agent');
    const entry = await agent.call('presence.update', { activeFile: 'app.py', cursor: { line: 3, character: 4 } });
    expect(entry).toMatchObject({ via: 'rpc', kind: 'agent', name: 'review-agent', activeFile: 'app.py', cursor: { line: 3, character: 4 } });
    const seen = await until(() => p.others().find((st) => st.user?.name === 'review-agent'), 'the agent in the provider\'s awareness');
    expect(seen.user).toMatchObject({ kind: 'agent', color: entry.color });
    const head = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(seen.cursor.head), p.doc);
    expect(head?.type).toBe(p.text);
    expect(head?.index).toBe(TEXT.indexOf('print'));
    expect(seen.selection).toEqual(seen.cursor);

    await agent.close();
    await until(() => !p.others().some((st) => st.user?.name === 'review-agent'), 'the agent gone from awareness');
    const rpc = await ws('cli', 'lister');
    expect((await rpc.call('presence.list', {})).some((e: any) => e.name === 'review-agent')).toBe(false);
  });

  it('an agent set over HTTP expires after the presence time-out (400 ms here; 30 s by default) and the provider sees it leave', async () => {
    const p = await open('notes.md');
    const http = (method: string, params: unknown) =>
      s.rpc({ jsonrpc: '2.0', id: 1, method, params }, { headers: { 'x-icpy-client-kind': 'agent', 'x-icpy-client-name': 'http-bot' } });
    const r = await http('presence.update', { activeFile: 'notes.md', cursor: { line: 1, character: 1 } });
    expect(r.body.result).toMatchObject({ id: 'http:agent:http-bot', kind: 'agent' });
    await until(() => p.others().some((st) => st.user?.name === 'http-bot'), 'the HTTP agent in awareness');
    await until(() => !p.others().some((st) => st.user?.name === 'http-bot'), 'the HTTP agent expired', 5000);
    expect((await s.call('presence.list', {})).some((e: any) => e.name === 'http-bot')).toBe(false);
  });

  it('an agent editing through docs.applyEdits appears in a provider\'s awareness at its edit, like a human', async () => {
    writeFileSync(join(s.root, 'edited.py'), 'a = 1\nb = 2\n');
    const p = await open('edited.py');
    const agent = await ws('agent', 'editing-agent');
    await agent.call('docs.applyEdits', { path: 'edited.py', edits: [{ range: { start: { line: 1, character: 0 }, end: { line: 1, character: 0 } }, text: 'c = 3\n' }] });
    await until(() => p.text.toString() === 'a = 1\nc = 3\nb = 2\n', 'the edit in the provider');
    const seen = await until(() => p.others().find((st) => st.user?.name === 'editing-agent'), 'the editing agent in awareness');
    const head = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(seen.cursor.head), p.doc);
    expect(head?.index).toBe('a = 1\nc = 3\n'.length); // the end of its insert
    const [entry] = (await agent.call('presence.list', { path: 'edited.py' })).filter((e: any) => e.name === 'editing-agent');
    expect(entry).toMatchObject({ via: 'rpc', kind: 'agent', cursor: { line: 2, character: 0 } });
  });

  it('the default presence time-out is 30 s', async () => {
    const d = await startServer();
    try {
      expect(d.app.config.docs.presenceTimeoutMs).toBe(30_000);
    } finally {
      await d.close();
    }
  });

  it('presence.changed reaches subscribers: added, then removed', async () => {
    const watcher = await ws('cli', 'event-watcher');
    await watcher.call('events.subscribe', { patterns: ['presence.changed'] });
    const agent = await ws('agent', 'evented');
    await agent.call('presence.update', { activeFile: 'notes.md' });
    const added = await watcher.waitFor(() => watcher.events().find((e) => e.data.entry.name === 'evented' && e.data.change === 'added'), 5000, 'added');
    expect(added.source).toMatchObject({ kind: 'agent', name: 'evented' });
    await agent.call('presence.leave', {});
    await watcher.waitFor(() => watcher.events().find((e) => e.data.entry.name === 'evented' && e.data.change === 'removed'), 5000, 'removed');
  });

  it('wrong params are INVALID_PARAMS naming the field', async () => {
    const agent = await ws('agent', 'bad');
    const err = await agent.call('presence.update', { color: 'red' }).then(() => undefined, (e) => e);
    expect(err).toMatchObject({ code: -32602 });
    expect(JSON.stringify(err.data)).toContain('color');
    const err2 = await agent.call('presence.update', { name: 'x'.repeat(65) }).then(() => undefined, (e) => e);
    expect(err2).toMatchObject({ code: -32602 });
  });

  it('a peer sending a 1 MiB awareness state is closed with 4413; the state is not relayed nor listed; other peers carry on', async () => {
    const watcher = await open('notes.md');
    const raw = new WebSocket(`${s.url.replace(/^http/, 'ws')}/api/yjs/notes.md?token=${s.token}&name=flooder`);
    await new Promise((resolve, reject) => {
      raw.once('open', resolve);
      raw.once('error', reject);
    });
    const frame = (update: Uint8Array) => {
      // y-websocket framing: varUint 1 (awareness), then the update as a varUint8Array.
      const len = update.length;
      const head: number[] = [1];
      let n = len;
      while (n > 0x7f) {
        head.push((n & 0x7f) | 0x80);
        n >>>= 7;
      }
      head.push(n);
      return Buffer.concat([Buffer.from(head), Buffer.from(update)]);
    };
    const closed = new Promise<number>((r) => raw.once('close', (code) => r(code)));
    raw.send(frame(encodeAwareness([{ clientId: 424242, clock: 1, json: JSON.stringify({ user: { name: 'huge', pad: 'x'.repeat(1024 * 1024) } }) }])));
    expect(await closed).toBe(4413);
    const other = new WebSocket(`${s.url.replace(/^http/, 'ws')}/api/yjs/notes.md?token=${s.token}&name=small`);
    await new Promise((resolve, reject) => {
      other.once('open', resolve);
      other.once('error', reject);
    });
    other.send(frame(encodeAwareness([{ clientId: 434343, clock: 1, json: JSON.stringify({ user: { name: 'small' } }) }])));
    await until(() => watcher.others().some((st) => st.user?.name === 'small'), 'the small state relayed');
    expect(watcher.others().some((st) => st.user?.name === 'huge')).toBe(false);
    expect((await s.call('presence.list', {})).some((e: any) => e.name === 'huge')).toBe(false);
    other.close();
    await new Promise((r) => other.once('close', r));
  });
});
