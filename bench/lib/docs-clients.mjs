// A client process for bench/docs: holds Yjs providers (unmodified y-websocket WebsocketProvider
// for icpy and the relay, @hocuspocus/provider HocuspocusProvider for Hocuspocus), each with its
// own Y.Doc, by handle id. Commands (IPC, answered with '<cmd>.ok'):
//   open    {ids, server:{kind,url,token}, room, expect?}  connect each (room: one name, or one per
//           id), wait until synced; returns
//           connect→synced ms per id. `expect` {chars, seed}: the text must then equal sourceText().
//   watch   {ids}   start recording, per id, when each edit marker '#<n>;' arrives in its Y.Text
//   type    {id, count, intervalMs, first}  insert markers first..first+count-1 at random places,
//           one every intervalMs (scheduled from the start, so a slow tick does not shift the
//           rest); returns the send times. count 0 = type until 'stop'.
//   stop    {}      stop an open-ended 'type'; returns its send times
//   collect {ids, count, timeoutMs}  wait until every watched id has seen `count` markers (or the
//           timeout), stop recording; returns [n, arrival ms] pairs per id
//   close   {ids}   destroy the providers and wait for their sockets to close
// Times are performance.timeOrigin + performance.now(): one clock across processes on one machine.
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { HocuspocusProvider } from '@hocuspocus/provider';
import { exitWithParent, send } from './ipc-child.mjs';
import { sourceText } from './docs-text.mjs';
import { nowMs } from './stats.mjs';

/** id -> { doc, text, provider, kind, seen?: Map<n, ms> } */
const clients = new Map();
// y-websocket adds a process 'exit' listener per provider.
process.setMaxListeners(0);
let typing;

exitWithParent(async () => {
  for (const c of clients.values()) c.provider.destroy();
});

const MARKER = /#(\d+);/g;

function connect(id, server, room) {
  const doc = new Y.Doc();
  const text = doc.getText('content');
  const c = { doc, text, kind: server.kind, seen: undefined, provider: undefined };
  text.observe((event) => {
    if (!c.seen) return;
    const t = nowMs();
    for (const op of event.changes.delta) {
      if (typeof op.insert !== 'string') continue;
      for (const m of op.insert.matchAll(MARKER)) {
        const n = Number(m[1]);
        if (!c.seen.has(n)) c.seen.set(n, t);
      }
    }
  });
  const t0 = nowMs();
  const synced = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${id}: not synced within 60 s`)), 60_000);
    const done = () => {
      clearTimeout(timer);
      resolve(nowMs() - t0);
    };
    if (server.kind === 'hocuspocus') {
      c.provider = new HocuspocusProvider({
        url: server.url,
        name: room,
        document: doc,
        token: server.token,
        WebSocketPolyfill: WebSocket,
        onSynced: ({ state }) => state && done(),
      });
    } else {
      // disableBc: y-websocket otherwise relays between providers of one room in the same
      // process through BroadcastChannel, around the server under test.
      const base = server.kind === 'icpy' ? `${server.url}/api/yjs` : server.url;
      c.provider = new WebsocketProvider(base, room, doc, {
        params: server.kind === 'icpy' ? { token: server.token } : {},
        WebSocketPolyfill: WebSocket,
        disableBc: true,
      });
      const onSync = (isSynced) => {
        if (!isSynced) return;
        c.provider.off('sync', onSync);
        done();
      };
      c.provider.on('sync', onSync);
      c.provider.on('connection-close', (ev) => {
        if (ev && ev.code >= 4000) reject(new Error(`${id}: server closed ${ev.code} ${ev.reason}`));
      });
      // y-websocket retries forever; a server that refuses the upgrade (no /api/yjs) fails fast.
      let errors = 0;
      c.provider.on('connection-error', () => {
        if (++errors === 3) reject(new Error(`${id}: cannot connect to ${base}/${room}`));
      });
    }
  });
  clients.set(id, c);
  return synced;
}

function socketOf(c) {
  return c.kind === 'hocuspocus' ? c.provider.configuration.websocketProvider.webSocket : c.provider.ws;
}

async function closeOne(id) {
  const c = clients.get(id);
  if (!c) return;
  clients.delete(id);
  const ws = socketOf(c);
  const closed =
    ws && ws.readyState !== ws.CLOSED
      ? new Promise((r) => {
          ws.addEventListener('close', r);
          setTimeout(r, 3000).unref();
        })
      : undefined;
  c.provider.destroy();
  c.doc.destroy();
  await closed;
}

function startTyping(id, count, intervalMs, first) {
  const c = clients.get(id);
  const sent = [];
  let stopped = false;
  let timer;
  let finish;
  let rand = 0x9e3779b9 ^ first;
  const t0 = performance.now();
  const finished = new Promise((resolve) => {
    finish = () => resolve(sent);
    const tick = () => {
      if (stopped) return resolve(sent);
      const i = sent.length;
      const len = c.text.length;
      rand ^= rand << 13;
      rand ^= rand >>> 17;
      rand ^= rand << 5;
      const at = (rand >>> 0) % (len + 1);
      sent.push(nowMs());
      c.text.insert(at, `#${first + i};`);
      if (count && sent.length >= count) return resolve(sent);
      timer = setTimeout(tick, Math.max(0, t0 + (i + 1) * intervalMs - performance.now()));
    };
    tick();
  });
  return {
    finished,
    stop() {
      stopped = true;
      clearTimeout(timer);
      finish();
      return finished;
    },
  };
}

process.on('message', async (m) => {
  try {
    if (m.cmd === 'open') {
      const ms = await Promise.all(m.ids.map((id, i) => connect(id, m.server, Array.isArray(m.room) ? m.room[i] : m.room)));
      if (m.expect) {
        const want = sourceText(m.expect.chars, m.expect.seed);
        for (const id of m.ids) {
          const got = clients.get(id).text.toString();
          if (got !== want) throw new Error(`${id}: synced text differs (${got.length} vs ${want.length} chars)`);
        }
      }
      send({ type: 'open.ok', ms });
    } else if (m.cmd === 'watch') {
      for (const id of m.ids) clients.get(id).seen = new Map();
      send({ type: 'watch.ok' });
    } else if (m.cmd === 'type') {
      typing = startTyping(m.id, m.count, m.intervalMs, m.first);
      if (m.count) {
        const sent = await typing.finished;
        typing = undefined;
        send({ type: 'type.ok', sent });
      } else send({ type: 'type.ok' });
    } else if (m.cmd === 'stop') {
      const sent = typing ? await typing.stop() : [];
      typing = undefined;
      send({ type: 'stop.ok', sent });
    } else if (m.cmd === 'collect') {
      const deadline = performance.now() + (m.timeoutMs ?? 10_000);
      const complete = () => m.ids.every((id) => clients.get(id).seen.size >= m.count);
      while (!complete() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      const seen = m.ids.map((id) => {
        const c = clients.get(id);
        const pairs = [...c.seen];
        c.seen = undefined;
        return pairs;
      });
      send({ type: 'collect.ok', seen });
    } else if (m.cmd === 'close') {
      await Promise.all(m.ids.map(closeOne));
      send({ type: 'close.ok' });
    }
  } catch (err) {
    send({ type: 'error', message: String(err?.stack ?? err) });
  }
});
send({ type: 'ready', pid: process.pid });
