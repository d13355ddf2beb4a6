// For bench/abuse: the hostile client, one process. 'prepare' sets a flood up (events to match,
// subscriptions that will never be read); 'flood' runs it until its deadline and reports what came
// back. Every request has a timeout and every loop stops at the deadline (outstanding requests
// are abandoned), so a dead or stalled server can never hang this process. Replies are counted
// and, when small, scanned for error codes (`errors_seen`); big ones are drained unparsed.
import { Agent, request } from 'node:http';
import WebSocket from 'ws';
import { exitWithParent, send } from './ipc-child.mjs';

/** Replies at most this big are parsed for error codes. */
const PARSE_MAX = 4 * 1024 * 1024;
/** The flooder's own guard: a WebSocket reply above this closes that connection (1009). */
const WS_MAX_PAYLOAD = 32 * 1024 * 1024;

let cfg;
let deadline = 0;
const seen = {};
const stats = { requests: 0, replies: 0, bytes: 0 };
/** Everything to close when the flood ends (WebSockets, agents, SSE requests). */
const open = new Set();
/** Prepared by 'prepare', used by 'flood'. */
const prepared = { subs: [] };

exitWithParent(async () => closeAll());

function closeAll() {
  for (const c of open) (c instanceof WebSocket ? c.terminate() : c.destroy());
  open.clear();
}

const count = (what) => (seen[what] = (seen[what] ?? 0) + 1);
const left = () => deadline - performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Error codes of a JSON-RPC reply (one object or a batch array). */
function scan(text) {
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    return count('unparsable-reply');
  }
  for (const m of Array.isArray(v) ? v : [v]) if (m?.error) count(m.error.data?.code ?? `rpc-${m.error.code}`);
}

/** One HTTP request; resolves when the reply ends, fails, or times out (never rejects). */
function http(agent, method, path, body, { timeoutMs = cfg.requestTimeoutMs, headers = {}, onResponse } = {}) {
  return new Promise((resolve) => {
    const u = new URL(path, cfg.url);
    stats.requests++;
    let done = false;
    const finish = (what) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (what) count(what);
      resolve();
    };
    const req = request(
      { agent, host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: { authorization: `Bearer ${cfg.token}`, ...headers } },
      (res) => {
        if (res.statusCode >= 400) count(`http-${res.statusCode}`);
        onResponse?.(res, req);
        const chunks = [];
        let n = 0;
        res.on('data', (d) => {
          n += d.length;
          stats.bytes += d.length;
          if (n <= PARSE_MAX) chunks.push(d);
        });
        res.on('end', () => {
          stats.replies++;
          if (n <= PARSE_MAX && String(res.headers['content-type']).includes('json')) scan(Buffer.concat(chunks).toString());
          finish();
        });
        res.on('error', () => finish('response-error'));
        res.on('aborted', () => finish('response-aborted'));
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      finish('timeout');
    }, Math.max(1, Math.min(timeoutMs, left() + 1000)));
    req.on('error', (err) => finish(err.code ?? 'request-error'));
    req.end(body);
  });
}

const rpcBody = (calls) => JSON.stringify(calls.map(([method, params], i) => ({ jsonrpc: '2.0', id: i + 1, method, params })));
const postRpc = (agent, calls) => http(agent, 'POST', '/api/rpc', rpcBody(calls), { headers: { 'content-type': 'application/json' } });

/** A WebSocket client whose calls time out; resolves null when it cannot connect. */
function wsConnect({ read = true } = {}) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${cfg.url.replace(/^http/, 'ws')}/api/ws?token=${encodeURIComponent(cfg.token)}&kind=cli&name=abuse`, {
      perMessageDeflate: false,
      maxPayload: WS_MAX_PAYLOAD,
    });
    open.add(ws);
    const waiting = new Map();
    let next = 1;
    const timer = setTimeout(() => {
      count('ws-connect-timeout');
      ws.terminate();
      resolve(null);
    }, 5000);
    ws.on('message', (data) => {
      stats.bytes += data.length;
      const text = data.length <= PARSE_MAX ? data.toString() : undefined;
      if (text === undefined) {
        // a big reply: it answers the oldest call waiting (batches are answered whole)
        const [id, w] = waiting.entries().next().value ?? [];
        if (id !== undefined) {
          waiting.delete(id);
          stats.replies++;
          w();
        }
        return;
      }
      let m;
      try {
        m = JSON.parse(text);
      } catch {
        return count('unparsable-reply');
      }
      const first = Array.isArray(m) ? m[0] : m;
      if (first?.method) return; // a notification (event, events.lagged)
      scan(text);
      const id = first?.id;
      const w = waiting.get(id);
      if (w) {
        waiting.delete(id);
        stats.replies++;
        w(Array.isArray(m) ? undefined : m);
      }
    });
    ws.on('error', (err) => count(`ws-${err.code ?? 'error'}`));
    ws.on('close', (code) => {
      clearTimeout(timer);
      open.delete(ws);
      // (a close after the deadline is this process hanging up)
      if (code !== 1000 && code !== 1005 && left() > 0) count(`ws-close-${code}`);
      for (const w of waiting.values()) w();
      waiting.clear();
      resolve(null);
    });
    ws.once('open', () => {
      clearTimeout(timer);
      if (!read) ws._socket.pause();
      resolve({
        ws,
        /** Send one call or a batch ([[method, params], …]); resolves with the reply (undefined on timeout/close/batch). */
        call(calls, timeoutMs = cfg.requestTimeoutMs) {
          if (ws.readyState !== ws.OPEN) return Promise.resolve(undefined);
          const batch = Array.isArray(calls[0]);
          const list = batch ? calls : [calls];
          const base = next;
          next += list.length;
          const msgs = list.map(([method, params], i) => ({ jsonrpc: '2.0', id: base + i, method, params }));
          stats.requests++;
          return new Promise((res) => {
            const t = setTimeout(() => {
              waiting.delete(base);
              count('timeout');
              res(undefined);
            }, Math.max(1, Math.min(timeoutMs, left() + 1000)));
            waiting.set(base, (m) => {
              clearTimeout(t);
              res(m);
            });
            ws.send(JSON.stringify(batch ? msgs : msgs[0]));
          });
        },
      });
    });
  });
}

/** `n` loops of `body` until the deadline. */
const loops = (n, body) => Array.from({ length: n }, async () => {
  while (left() > 0) await body();
});

// ------------------------------------------------------------------ (a) large batch reads
/**
 * Until the flood's deadline: connect a WebSocket (retrying every 100 ms while the server refuses),
 * run `body(c)` while it is open, hang up, and connect again if time is left.
 */
async function wsUntilDeadline(body) {
  while (left() > 0) {
    const c = await wsConnect();
    if (!c) {
      await sleep(100);
      continue;
    }
    await body(c);
    c.ws.terminate();
  }
}

async function batchReads() {
  const reads = Array.from({ length: cfg.batch }, () => ['files.read', { path: cfg.bigFile }]);
  const agent = new Agent({ keepAlive: true });
  open.add(agent);
  const wsLoop = () =>
    wsUntilDeadline(async (c) => {
      while (left() > 0 && c.ws.readyState === c.ws.OPEN) await c.call(reads);
    });
  await Promise.all([
    ...loops(cfg.concurrency, () => postRpc(agent, reads)),
    ...Array.from({ length: cfg.concurrency }, wsLoop),
    ...loops(cfg.concurrency * 2, () => http(agent, 'GET', `/api/files/${cfg.bigFile}`)),
  ]);
}

// ------------------------------------------------------------------ (b) crafted topic patterns
/** `**.a.**.a.…**.b`: never matches a topic of a's, and a backtracking matcher tries every split. */
const crafted = (stars) => '**.a.'.repeat(stars) + '**.b';
/** 16 segments (the default maxPatternSegments) and 42 (over it: must be refused, cheaply). */
const PATTERNS = [crafted(7), crafted(20)];
const longTopic = (segments) => 'client' + '.a'.repeat(segments - 1);

async function preparePatterns() {
  const agent = new Agent({ keepAlive: true });
  open.add(agent);
  deadline = performance.now() + 60_000;
  // Topics of 16 and 40 segments; 50 emits per batch (under the default maxBatchLength).
  for (let i = 0; i < cfg.events; i += 50) {
    const calls = Array.from({ length: Math.min(50, cfg.events - i) }, (_, k) => ['events.emit', { topic: longTopic((i + k) % 2 ? 40 : 16), data: { i: i + k } }]);
    await postRpc(agent, calls);
  }
}

async function patterns() {
  const agent = new Agent({ keepAlive: true });
  open.add(agent);
  const q = (p) => encodeURIComponent(p);
  let k = 0;
  const nextPattern = () => PATTERNS[k++ % PATTERNS.length];
  const wsLoop = () =>
    wsUntilDeadline(async (c) => {
      // subscribe (each publish is then matched against it), history, and publishes to match
      while (left() > 0 && c.ws.readyState === c.ws.OPEN) {
        await c.call(['events.subscribe', { patterns: [nextPattern()] }]);
        await c.call(['events.history', { since: 0, patterns: [nextPattern()], limit: 1000 }]);
        await c.call(['events.emit', { topic: longTopic(40), data: null }]);
      }
    });
  const sse = () =>
    http(agent, 'GET', `/api/events?since=0&patterns=${q(nextPattern())}`, undefined, {
      timeoutMs: 1500,
      // an SSE response never ends by itself: read it for a moment, then hang up
      onResponse: (_res, req) => setTimeout(() => req.destroy(), 500),
    });
  await Promise.all([
    ...loops(cfg.concurrency, () => postRpc(agent, [['events.history', { since: 0, patterns: [nextPattern()], limit: 1000 }]])),
    ...Array.from({ length: Math.max(1, cfg.concurrency / 2) }, wsLoop),
    ...loops(Math.max(1, cfg.concurrency / 2), sse),
  ]);
}

// ------------------------------------------------------------------ (c) subscribers that never read
async function prepareSubscribers() {
  deadline = performance.now() + 60_000;
  let next = 0;
  const one = async () => {
    while (next < cfg.subscribers) {
      next++;
      const c = await wsConnect();
      if (!c) continue;
      await c.call(['events.subscribe', { patterns: ['**'] }], 10_000);
      c.ws._socket.pause(); // from now on this connection never reads its socket
      prepared.subs.push(c);
    }
  };
  await Promise.all(Array.from({ length: 16 }, one));
}

async function slowSubscribers() {
  const pad = 'x'.repeat(cfg.eventBytes);
  const publisher = () =>
    wsUntilDeadline((c) =>
      // a window of emits in flight, as fast as the server acknowledges them
      Promise.all(
        Array.from({ length: 16 }, async () => {
          let i = 0;
          while (left() > 0 && c.ws.readyState === c.ws.OPEN) await c.call(['events.emit', { topic: 'client.abuse.tick', data: { i: i++, pad } }]);
        }),
      ),
    );
  await Promise.all(Array.from({ length: 2 }, publisher));
}

const FLOODS = { 'batch-reads': [undefined, batchReads], patterns: [preparePatterns, patterns], 'slow-subscribers': [prepareSubscribers, slowSubscribers] };

process.on('message', async (m) => {
  try {
    if (m?.cmd === 'prepare') {
      cfg = m;
      prepared.subs = [];
      await FLOODS[m.flood][0]?.();
      send({ type: 'prepare.ok', subscribers: prepared.subs.length, errors_seen: { ...seen } });
    } else if (m?.cmd === 'flood') {
      for (const k of Object.keys(seen)) delete seen[k];
      Object.assign(stats, { requests: 0, replies: 0, bytes: 0 });
      deadline = performance.now() + m.durationMs;
      await FLOODS[m.flood][1]();
      closeAll();
      send({ type: 'flood.ok', ...stats, errors_seen: seen });
    }
  } catch (err) {
    send({ type: 'error', message: String(err?.stack ?? err) });
  }
});
send({ type: 'ready' });
