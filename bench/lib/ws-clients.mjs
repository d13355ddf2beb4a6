// A client process for bench/ws-fanout and bench/ws-memory: holds many WebSocket connections
// in groups (one group per server under test) and reports, per group, the highest event index
// every connection of the group has received ('done'), plus delivery latencies when recording.
// Frames carry `"i":<index>,"t":<sender time ms>` inside their data; both servers' frames do.
import WebSocket from 'ws';
import { exitWithParent, send } from './ipc-child.mjs';
import { nowMs } from './stats.mjs';

const groups = new Map();
let recording = false;
let lat = new Float64Array(1 << 20);
let latN = 0;

exitWithParent(async () => {
  for (const g of groups.values()) for (const ws of g.conns) ws.terminate();
});

function record(ms) {
  if (latN === lat.length) {
    const bigger = new Float64Array(lat.length * 2);
    bigger.set(lat);
    lat = bigger;
  }
  lat[latN++] = ms;
}

function group(name) {
  let g = groups.get(name);
  if (!g) {
    g = { conns: [], counts: new Map(), done: -1, flushScheduled: false };
    groups.set(name, g);
  }
  return g;
}

function flush(name, g) {
  g.flushScheduled = false;
  send({ type: 'done', group: name, i: g.done });
}

function onFrame(name, g, data, pending) {
  const s = data.toString('latin1');
  const k = s.indexOf('"i":');
  if (k < 0) {
    // A reply (events.subscribe) rather than an event.
    if (pending.resolve) {
      if (s.includes('"error"')) pending.reject(new Error(`subscribe failed: ${s}`));
      else pending.resolve();
      pending.resolve = undefined;
    }
    return;
  }
  const i = parseInt(s.substring(k + 4, k + 24), 10);
  if (recording) {
    const kt = s.indexOf('"t":', k);
    record(nowMs() - parseFloat(s.substring(kt + 4, kt + 34)));
  }
  const c = (g.counts.get(i) ?? 0) + 1;
  if (c === g.conns.length) {
    g.counts.delete(i);
    if (i > g.done) g.done = i;
    if (!g.flushScheduled) {
      g.flushScheduled = true;
      setImmediate(flush, name, g);
    }
  } else g.counts.set(i, c);
}

function open(name, g, url, subscribe) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const pending = {};
    ws.on('message', (data) => onFrame(name, g, data, pending));
    ws.once('error', reject);
    ws.once('open', () => {
      g.conns.push(ws);
      if (!subscribe) return resolve();
      pending.resolve = resolve;
      pending.reject = reject;
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'events.subscribe', params: { patterns: subscribe } }));
    });
  });
}

process.on('message', async (m) => {
  try {
    if (m.cmd === 'connect') {
      const g = group(m.group);
      let next = 0;
      const worker = async () => {
        while (next < m.count) {
          next++;
          await open(m.group, g, m.url, m.subscribe);
        }
      };
      await Promise.all(Array.from({ length: Math.min(32, m.count) }, worker));
      send({ type: 'connect.ok', group: m.group, count: g.conns.length });
    } else if (m.cmd === 'record') {
      if (m.on) {
        latN = 0;
        recording = true;
        send({ type: 'record.ok' });
      } else {
        recording = false;
        send({ type: 'record.ok', samples: lat.slice(0, latN) });
      }
    } else if (m.cmd === 'close') {
      const g = groups.get(m.group);
      if (g) {
        await Promise.all(
          g.conns.map(
            (ws) =>
              new Promise((r) => {
                if (ws.readyState === ws.CLOSED) return r();
                ws.once('close', r);
                ws.close();
                setTimeout(() => {
                  ws.terminate();
                  r();
                }, 2000).unref();
              }),
          ),
        );
        groups.delete(m.group);
      }
      send({ type: 'close.ok' });
    }
  } catch (err) {
    send({ type: 'error', message: String(err?.stack ?? err) });
  }
});
send({ type: 'ready', pid: process.pid });
