// A hostile client in its own process (so its work does not share the test's event loop):
// SUBSCRIBERS WebSocket connections subscribe to `**` and never read their sockets, while two
// publishers keep 16 `events.emit` of 4 KB each in flight for FLOOD_MS. Prints one JSON line.
import WebSocket from 'ws';

const [wsUrl, token, subscribers, floodMs] = [process.argv[2], process.argv[3], Number(process.argv[4]), Number(process.argv[5])];
const url = `${wsUrl}?token=${encodeURIComponent(token)}&kind=agent&name=flood`;
const open = () =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
const subs = [];
for (let i = 0; i < subscribers; i++) {
  const ws = await open();
  ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'events.subscribe', params: { patterns: ['**'] } }));
  subs.push(ws);
}
await new Promise((r) => setTimeout(r, 200));
for (const ws of subs) ws._socket.pause(); // never read again
const until = Date.now() + floodMs;
const pad = 'x'.repeat(4096);
let emitted = 0;
const publisher = async () => {
  const ws = await open();
  let id = 0;
  const pending = new Map();
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    pending.get(m.id)?.();
    pending.delete(m.id);
  });
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (Date.now() < until) {
        const n = ++id;
        await new Promise((r) => {
          pending.set(n, r);
          ws.send(JSON.stringify({ jsonrpc: '2.0', id: n, method: 'events.emit', params: { topic: 'client.flood.tick', data: { n, pad } } }));
        });
        emitted++;
      }
    }),
  );
  ws.terminate();
};
await Promise.all([publisher(), publisher()]);
for (const ws of subs) ws.terminate();
console.log(JSON.stringify({ emitted }));
