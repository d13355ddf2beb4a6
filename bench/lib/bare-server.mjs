// Raw baseline: a plain `ws` server. Clients connect to /sub; each text frame received on /pub
// is broadcast as-is to every /sub client. No JSON parsing, no RPC, no broker.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { exitWithParent, send } from './ipc-child.mjs';

const http = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });
const subs = new Set();

http.on('upgrade', (req, socket, head) => {
  const path = (req.url ?? '').split('?')[0];
  wss.handleUpgrade(req, socket, head, (ws) => {
    if (path === '/pub') {
      ws.on('message', (data, isBinary) => {
        for (const c of subs) c.send(data, { binary: isBinary });
      });
    } else {
      subs.add(ws);
      ws.once('close', () => subs.delete(ws));
    }
    ws.on('error', () => {});
  });
});

exitWithParent(async () => {
  for (const c of subs) c.terminate();
  await new Promise((r) => http.close(r));
});

process.on('message', (m) => {
  if (m?.cmd === 'mem') {
    if (globalThis.gc) {
      globalThis.gc();
      globalThis.gc();
    }
    send({ type: 'mem.ok', ...process.memoryUsage(), connections: subs.size });
  }
});

http.listen(0, '127.0.0.1', () => {
  send({ type: 'ready', url: `http://127.0.0.1:${http.address().port}`, pid: process.pid });
});
