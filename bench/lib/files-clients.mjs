// A client process for bench/files: holds a few clients of EACH server under test at once (icpy
// over WebSocket, icpy over REST, a bare Node HTTP server, Jupyter's contents API), one set per
// target key, and runs one operation (4 KB read, 4 KB write, stat, 1,000-entry list) on one
// target's set, closed-loop or at a fixed rate, reporting every latency (ms) to the parent. The
// other sets' keep-alive sockets / WebSockets stay open, idle, so the parent can alternate
// targets every phase without reconnecting. Op 'mixed': clients with an even global index read,
// the odd ones write (25 + 25 of the 50), all at once; latencies come back per op (`byOp`).
import { Agent, request } from 'node:http';
import WebSocket from 'ws';
import { exitWithParent, send } from './ipc-child.mjs';

const FILES = 1000;
const PAYLOAD = 'x'.repeat(4095) + '\n';
/** key (target name) → that target's clients */
let sets = {};

function closeAll() {
  for (const clients of Object.values(sets)) for (const c of clients) c.close();
  sets = {};
}

exitWithParent(async () => closeAll());

function httpCall(agent, base, method, path, headers, body) {
  return new Promise((resolve, reject) => {
    const u = new URL(path, base);
    const req = request({ agent, host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        if (res.statusCode >= 300) reject(new Error(`${method} ${path}: HTTP ${res.statusCode} ${Buffer.concat(chunks).toString().slice(0, 200)}`));
        else resolve(Buffer.concat(chunks));
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function wsClient(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const pending = new Map();
    let next = 1;
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.error) p.reject(new Error(JSON.stringify(m.error)));
      else p.resolve(m.result);
    });
    ws.once('open', () =>
      resolve({
        call(method, params) {
          const id = next++;
          return new Promise((res, rej) => {
            pending.set(id, { resolve: res, reject: rej });
            ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
          });
        },
        close: () => ws.terminate(),
      }),
    );
    ws.once('error', reject);
  });
}

async function makeClient(target, index) {
  const rnd = () => `r/f${Math.floor(Math.random() * FILES)}.txt`;
  const mine = `w/c${index}.txt`;
  if (target.kind === 'icpy-ws') {
    const c = await wsClient(`${target.url.replace(/^http/, 'ws')}/api/ws?token=${encodeURIComponent(target.token)}&kind=cli&name=bench${index}`);
    return {
      index,
      close: c.close,
      ops: {
        read: () => c.call('files.read', { path: rnd() }),
        write: () => c.call('files.write', { path: mine, content: PAYLOAD }),
        stat: () => c.call('files.stat', { path: rnd() }),
        list: () => c.call('files.list', { path: 'r', limit: 1000 }),
      },
    };
  }
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const base = target.url;
  const close = () => agent.destroy();
  if (target.kind === 'icpy-rest') {
    const auth = { authorization: `Bearer ${target.token}` };
    const json = { ...auth, 'content-type': 'application/json' };
    return {
      index,
      close,
      ops: {
        read: () => httpCall(agent, base, 'GET', `/api/files/${rnd()}`, auth),
        write: () => httpCall(agent, base, 'PUT', `/api/files/${mine}`, { ...auth, 'content-type': 'application/octet-stream' }, PAYLOAD),
        // The REST stat is GET /api/files/P?stat (bare's is GET /stat/P, Jupyter's GET ?content=0);
        // FILES_BENCH_REST_STAT=rpc measures the JSON-RPC route POST /api/rpc/files.stat instead.
        stat:
          process.env.FILES_BENCH_REST_STAT === 'rpc'
            ? () => httpCall(agent, base, 'POST', '/api/rpc/files.stat', json, JSON.stringify({ path: rnd() }))
            : () => httpCall(agent, base, 'GET', `/api/files/${rnd()}?stat=1`, auth),
        list: () => httpCall(agent, base, 'POST', '/api/rpc/files.list', json, JSON.stringify({ path: 'r', limit: 1000 })),
      },
    };
  }
  if (target.kind === 'bare') {
    return {
      index,
      close,
      ops: {
        read: () => httpCall(agent, base, 'GET', `/read/${rnd()}`, {}),
        write: () => httpCall(agent, base, 'PUT', `/write/${mine}`, {}, PAYLOAD),
        stat: () => httpCall(agent, base, 'GET', `/stat/${rnd()}`, {}),
        list: () => httpCall(agent, base, 'GET', '/list/r', {}),
      },
    };
  }
  if (target.kind === 'jupyter') {
    const auth = { authorization: `token ${target.token}` };
    const body = JSON.stringify({ type: 'file', format: 'text', content: PAYLOAD });
    return {
      index,
      close,
      ops: {
        read: () => httpCall(agent, base, 'GET', `/api/contents/${rnd()}?type=file&format=text&content=1`, auth),
        write: () => httpCall(agent, base, 'PUT', `/api/contents/${mine}`, { ...auth, 'content-type': 'application/json' }, body),
        stat: () => httpCall(agent, base, 'GET', `/api/contents/${rnd()}?content=0`, auth),
        list: () => httpCall(agent, base, 'GET', '/api/contents/r?content=1', auth),
      },
    };
  }
  throw new Error(`unknown target ${target.kind}`);
}

async function run({ key, op, mode, durationMs, ratePerClient }) {
  const clients = sets[key];
  if (!clients) throw new Error(`run: no clients set up for '${key}'`);
  const lat = [];
  /** op actually run → its latencies (one entry unless op is 'mixed') */
  const byOp = {};
  let errors = 0;
  let firstError;
  const deadline = performance.now() + durationMs;
  await Promise.all(
    clients.map(async (c) => {
      const myOp = op === 'mixed' ? (c.index % 2 ? 'write' : 'read') : op;
      const fn = c.ops[myOp];
      const mine = (byOp[myOp] ??= []);
      if (mode === 'closed') {
        while (performance.now() < deadline) {
          const t0 = performance.now();
          try {
            await fn();
            const ms = performance.now() - t0;
            lat.push(ms);
            mine.push(ms);
          } catch (err) {
            errors++;
            firstError ??= String(err.message ?? err);
          }
        }
        return;
      }
      // Open loop: send on schedule whether or not the last reply came; latency from send.
      const period = 1000 / ratePerClient;
      let due = performance.now() + Math.random() * period;
      const inflight = [];
      while (due < deadline) {
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const t0 = performance.now();
        inflight.push(
          fn().then(
            () => {
              const ms = performance.now() - t0;
              lat.push(ms);
              mine.push(ms);
            },
            (err) => {
              errors++;
              firstError ??= String(err.message ?? err);
            },
          ),
        );
        due += period;
      }
      await Promise.all(inflight);
    }),
  );
  return { lat: Float64Array.from(lat), byOp: Object.fromEntries(Object.entries(byOp).map(([k, v]) => [k, Float64Array.from(v)])), errors, firstError };
}

process.on('message', async (m) => {
  try {
    if (m.cmd === 'setup') {
      for (const c of sets[m.key] ?? []) c.close();
      sets[m.key] = await Promise.all(Array.from({ length: m.clients }, (_, i) => makeClient(m.target, m.base + i)));
      send({ type: 'setup.ok' });
    } else if (m.cmd === 'run') {
      send({ type: 'run.ok', ...(await run(m)) });
    } else if (m.cmd === 'teardown') {
      closeAll();
      send({ type: 'teardown.ok' });
    }
  } catch (err) {
    send({ type: 'error', message: String(err?.stack ?? err) });
  }
});
send({ type: 'ready' });
