// A document server under test for bench/docs, one per process so RSS is per server:
//   node docs-server.mjs icpy|hocuspocus|relay ROOT TOKEN
// Every kind loads a room's starting text from ROOT/<room> when the room is first opened, so a
// "cold" sync costs each server a file read and a Y.Doc built from it.
//   icpy        createApp() from dist/ (run `npm run build`); rooms are WS /api/yjs/<path>
//   hocuspocus  @hocuspocus/server@3 Server, onLoadDocument reads the file into Y.Text 'content'
//   relay       the raw baseline: ws@8 + yjs + y-protocols sync/awareness, one Y.Doc per room,
//               updates relayed to the room's other sockets, nothing else (no auth, no storage)
// IPC: sends {type:'ready', url, pid}; answers {cmd:'mem'} with process.memoryUsage() after a
// forced GC (run with --expose-gc) and the number of rooms loaded.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import * as Y from 'yjs';
import * as syncProtocol from 'y-protocols/sync';
import * as awarenessProtocol from 'y-protocols/awareness';
import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';
import { exitWithParent, send } from './ipc-child.mjs';

const [kind, root, token] = process.argv.slice(2);

async function startIcpy() {
  const dist = process.env.ICPY_BENCH_DIST ? new URL(`file://${process.env.ICPY_BENCH_DIST}/`) : new URL('../../dist/', import.meta.url);
  const { createApp } = await import(new URL('app/create-app.js', dist).href);
  const app = await createApp({ root, port: 0, token, logLevel: 'silent' });
  const { url } = await app.listen();
  return {
    url: url.replace(/^http/, 'ws'),
    rooms: () => undefined,
    close: () => app.close(),
  };
}

async function startHocuspocus() {
  const { Server } = await import('@hocuspocus/server');
  const server = new Server({
    port: 0,
    address: '127.0.0.1',
    quiet: true,
    stopOnSignals: false,
    async onLoadDocument({ document, documentName }) {
      const text = await readFile(join(root, documentName), 'utf8');
      document.getText('content').insert(0, text);
      return document;
    },
  });
  await server.listen();
  return {
    url: `ws://127.0.0.1:${server.address.port}`,
    rooms: () => server.hocuspocus.getDocumentsCount(),
    close: () => server.destroy(),
  };
}

// ---- bare relay ----------------------------------------------------------------------------

const MSG_SYNC = 0;
const MSG_AWARENESS = 1;
const MSG_QUERY_AWARENESS = 3;

function startRelay() {
  /** room name -> { doc, awareness, conns: Map<ws, Set<clientId>>, ready: Promise } */
  const rooms = new Map();
  const http = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

  const frame = (write) => {
    const enc = encoding.createEncoder();
    write(enc);
    return encoding.toUint8Array(enc);
  };

  function openRoom(name) {
    const doc = new Y.Doc();
    const awareness = new awarenessProtocol.Awareness(doc);
    awareness.setLocalState(null);
    const room = { doc, awareness, conns: new Map(), ready: undefined };
    rooms.set(name, room);
    room.ready = readFile(join(root, name), 'utf8').then((text) => {
      // Loaded before the relay listens, so the starting text is not sent as an update as well
      // as in the sync step 2 every client asks for.
      doc.getText('content').insert(0, text);
      relay(room);
    });
    return room;
  }

  function relay(room) {
    const { doc, awareness } = room;
    doc.on('update', (update, origin) => {
      const msg = frame((e) => {
        encoding.writeVarUint(e, MSG_SYNC);
        syncProtocol.writeUpdate(e, update);
      });
      for (const ws of room.conns.keys()) if (ws !== origin) ws.send(msg);
    });
    awareness.on('update', ({ added, updated, removed }, origin) => {
      const ids = room.conns.get(origin);
      if (ids) {
        for (const id of added) ids.add(id);
        for (const id of removed) ids.delete(id);
      }
      const msg = frame((e) => {
        encoding.writeVarUint(e, MSG_AWARENESS);
        encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(awareness, [...added, ...updated, ...removed]));
      });
      for (const ws of room.conns.keys()) if (ws !== origin) ws.send(msg);
    });
  }

  function handle(room, ws, data) {
    const dec = decoding.createDecoder(new Uint8Array(data));
    const type = decoding.readVarUint(dec);
    if (type === MSG_SYNC) {
      const enc = encoding.createEncoder();
      encoding.writeVarUint(enc, MSG_SYNC);
      syncProtocol.readSyncMessage(dec, enc, room.doc, ws);
      if (encoding.length(enc) > 1) ws.send(encoding.toUint8Array(enc));
    } else if (type === MSG_AWARENESS) {
      awarenessProtocol.applyAwarenessUpdate(room.awareness, decoding.readVarUint8Array(dec), ws);
    } else if (type === MSG_QUERY_AWARENESS) {
      ws.send(
        frame((e) => {
          encoding.writeVarUint(e, MSG_AWARENESS);
          encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(room.awareness, [...room.awareness.getStates().keys()]));
        }),
      );
    }
  }

  http.on('upgrade', (req, socket, head) => {
    const name = decodeURIComponent((req.url ?? '/').split('?')[0].slice(1));
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.binaryType = 'arraybuffer';
      const room = rooms.get(name) ?? openRoom(name);
      room.conns.set(ws, new Set());
      ws.on('error', () => {});
      // Messages wait for the room's text to load; promise callbacks keep their order.
      ws.on('message', (data) => void room.ready.then(() => room.conns.has(ws) && handle(room, ws, data)));
      ws.on('close', () => {
        const ids = room.conns.get(ws);
        room.conns.delete(ws);
        if (ids?.size) awarenessProtocol.removeAwarenessStates(room.awareness, [...ids], null);
        if (room.conns.size === 0 && rooms.get(name) === room) {
          rooms.delete(name);
          room.awareness.destroy();
          room.doc.destroy();
        }
      });
      void room.ready.then(() => {
        if (!room.conns.has(ws)) return;
        ws.send(frame((e) => (encoding.writeVarUint(e, MSG_SYNC), syncProtocol.writeSyncStep1(e, room.doc))));
        if (room.awareness.getStates().size) {
          ws.send(
            frame((e) => {
              encoding.writeVarUint(e, MSG_AWARENESS);
              encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(room.awareness, [...room.awareness.getStates().keys()]));
            }),
          );
        }
      });
    });
  });

  return new Promise((resolve) =>
    http.listen(0, '127.0.0.1', () =>
      resolve({
        url: `ws://127.0.0.1:${http.address().port}`,
        rooms: () => rooms.size,
        close: async () => {
          for (const c of wss.clients) c.terminate();
          await new Promise((r) => http.close(r));
        },
      }),
    ),
  );
}

// ---- main ----------------------------------------------------------------------------------

let server;
exitWithParent(async () => {
  await server?.close();
});
server = await (kind === 'icpy' ? startIcpy() : kind === 'hocuspocus' ? startHocuspocus() : startRelay());

process.on('message', (m) => {
  if (m?.cmd === 'mem') {
    if (globalThis.gc) {
      globalThis.gc();
      globalThis.gc();
    }
    send({ type: 'mem.ok', ...process.memoryUsage(), rooms: server.rooms() });
  }
});
send({ type: 'ready', url: server.url, pid: process.pid });
