// Hostile Yjs peers in their own process (so their work does not share the test's event loop):
// PEERS raw y-websocket connections to one room send Yjs updates (200-character inserts, and
// deletes that keep the text small) as fast as their sockets drain, for FLOOD_MS, reading and
// dropping what the server relays. Prints one JSON line: {sent, closed: [codes]}.
import WebSocket from 'ws';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import * as syncProtocol from 'y-protocols/sync';

const [roomUrl, peers, floodMs] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const frame = (write) => {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 0);
  write(e);
  return encoding.toUint8Array(e);
};
const open = () =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(roomUrl);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
const sockets = [];
for (let i = 0; i < peers; i++) sockets.push(await open());
const closed = [];
for (const ws of sockets) ws.on('close', (code) => closed.push(code));
const until = Date.now() + floodMs;
let sent = 0;
await Promise.all(
  sockets.map(async (ws, i) => {
    const d = new Y.Doc();
    const t = d.getText('content');
    ws.send(frame((e) => syncProtocol.writeSyncStep1(e, d)));
    let sv = Y.encodeStateVector(d);
    const chunk = String.fromCharCode(97 + (i % 26)).repeat(200);
    while (Date.now() < until && ws.readyState === WebSocket.OPEN) {
      if (ws.bufferedAmount > 1024 * 1024) {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      if (t.length > 2000) t.delete(0, 1000);
      else t.insert(Math.floor(Math.random() * (t.length + 1)), chunk);
      const u = Y.encodeStateAsUpdate(d, sv);
      sv = Y.encodeStateVector(d);
      ws.send(frame((e) => syncProtocol.writeUpdate(e, u)));
      sent++;
      if (sent % 20 === 0) await new Promise((r) => setImmediate(r));
    }
  }),
);
for (const ws of sockets) ws.close();
await new Promise((r) => setTimeout(r, 200));
process.stdout.write(JSON.stringify({ sent, closed }) + '\n');
process.exit(0);
