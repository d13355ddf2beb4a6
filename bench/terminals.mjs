// Terminals: keystroke-to-echo latency and bulk output throughput through icpy's terminal
// WebSocket, against raw node-pty in this process and against Jupyter Server's terminal
// WebSocket (terminado), all in the same run; plus icpy's scrollback replay of 1 MiB against
// sending the same bytes over a bare `ws` socket. Run `npm run build` first (icpy runs from dist/).
//
// Processes: icpy (`icpy serve TMP --port 0`, lib/icpy-server.mjs) and Jupyter Server
// (`jupyter-server`, Debian jupyter-server + python3-terminado; skipped with a note if missing)
// each run in their own process; the clients, and the raw node-pty baseline, run here.
// Every shell is `/bin/bash --norc --noprofile` with the same prompt, so all three echo the same.
//
// Echo: type one character, wait for it to come back, repeat (ECHO_KEYS keystrokes; the line is
// killed with ^U every 50 characters, not timed). Figures: p50/p99 of the round trip in ms.
// Bulk: `cat` of a BULK_MB text file; MB/s = file bytes / time from the command to the marker
// printed after it. icpy is measured with JSON notifications (the default) and binary frames.
// Replay: attach {since: 0} to a terminal whose 1 MiB scrollback is full; ms until all of it
// has arrived. Baseline: one 1 MiB text frame over a bare `ws` server in this process.
//
//   npm run build && node bench/terminals.mjs
//   BENCH_BULK_MB=32 BENCH_ECHO_KEYS=300 BENCH_ROUNDS=3 node bench/terminals.mjs
//   BENCH_PARTS=echo BENCH_JUPYTER=0 node bench/terminals.mjs     (only some parts / no Jupyter)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket, { WebSocketServer } from 'ws';
import pty from 'node-pty';
import { forkChild, nextMessage, sleep, stopChild } from './lib/procs.mjs';
import { startJupyter } from './lib/jupyter.mjs';
import { emit, median, percentile, round } from './lib/stats.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const BULK_MB = Number(process.env.BENCH_BULK_MB ?? 64);
const ECHO_KEYS = Number(process.env.BENCH_ECHO_KEYS ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PARTS = new Set((process.env.BENCH_PARTS ?? 'echo,bulk,replay').split(','));
const TOKEN = 'bench-' + Math.random().toString(36).slice(2);
const SHELL = ['/bin/bash', '--norc', '--noprofile'];
const ENV = { ...process.env, PS1: '$ ', HISTFILE: '/dev/null', TERM: 'xterm-256color' };
delete ENV.ICPY_TOKEN;

const tmp = mkdtempSync(join(tmpdir(), 'icpy-bench-term-'));
const root = join(tmp, 'workspace');
mkdirSync(root);
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

// A text file of BULK_MB megabytes (plain ASCII lines; the tty turns \n into \r\n on the way).
const line = 'the quick brown fox jumps over the lazy dog 0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ\n';
const bulkBytes = BULK_MB * 1e6;
writeFileSync(join(root, 'big.txt'), line.repeat(Math.ceil(bulkBytes / line.length)).slice(0, bulkBytes));
const BULK_CMD = `cat '${join(root, 'big.txt')}'; echo "DONE-$((6*7))"\r`;
const BULK_MARK = 'DONE-42';

// ---- transports under test: each gives write(text) and onData(cb: text => void) -------------

/** Raw node-pty in this process. */
async function rawTerminal() {
  const p = pty.spawn(SHELL[0], SHELL.slice(1), { cols: 120, rows: 30, cwd: root, env: ENV });
  let cb = () => {};
  p.onData((d) => cb(d));
  return {
    write: (s) => p.write(s),
    onData: (f) => (cb = f),
    close: async () => {
      p.kill('SIGKILL');
      await sleep(50);
    },
  };
}

/** icpy over its WebSocket: terminal.create + terminal.attach; output as JSON or binary. */
async function icpyTerminal(url, encoding = 'json', create = true) {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/ws?token=${TOKEN}&kind=cli&name=bench`);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let nextId = 1;
  const pending = new Map();
  let cb = () => {};
  const decoder = new TextDecoder();
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      const idLen = data[1];
      return cb(decoder.decode(data.subarray(10 + idLen)), data.length - 10 - idLen);
    }
    const m = JSON.parse(data.toString());
    if (m.method === 'terminal.output') return cb(m.params.data);
    if (m.id !== undefined && pending.has(m.id)) {
      const { resolve, reject } = pending.get(m.id);
      pending.delete(m.id);
      if (m.error) reject(new Error(m.error.message));
      else resolve(m.result);
    }
  });
  const call = (method, params) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  const t = create
    ? await call('terminal.create', { shell: SHELL[0], args: SHELL.slice(1), env: { PS1: '$ ', HISTFILE: '/dev/null' }, cols: 120, rows: 30 })
    : { id: undefined };
  return {
    id: t.id,
    call,
    attach: (params = {}) => call('terminal.attach', { id: t.id, encoding, ...params }),
    // Input as a JSON-RPC notification: no reply to wait for, as a browser would send keys.
    write: (s) => ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'terminal.write', params: { id: t.id, data: s } })),
    onData: (f) => (cb = f),
    close: async () => {
      await call('terminal.close', { id: t.id });
      ws.close();
    },
    ws,
  };
}

/** Jupyter Server: POST /api/terminals, then its terminado WebSocket speaking JSON arrays. */
async function jupyterTerminal(base, token) {
  const res = await fetch(`${base}/api/terminals`, { method: 'POST', headers: { Authorization: `token ${token}` } });
  if (!res.ok) throw new Error(`POST /api/terminals: HTTP ${res.status}`);
  const { name } = await res.json();
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/terminals/websocket/${name}?token=${token}`);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let cb = () => {};
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (m[0] === 'stdout') cb(m[1]);
  });
  return {
    write: (s) => ws.send(JSON.stringify(['stdin', s])),
    onData: (f) => (cb = f),
    close: async () => {
      ws.close();
      await fetch(`${base}/api/terminals/${name}`, { method: 'DELETE', headers: { Authorization: `token ${token}` } });
    },
  };
}

// ---- measurements ------------------------------------------------------------------------------

/** Resolve when `pred(text so far)` holds; text is reset per wait. */
function waitOutput(t, pred, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    let acc = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for output (${JSON.stringify(acc.slice(-80))})`)), timeoutMs);
    t.onData((d) => {
      acc += d;
      if (pred(acc)) {
        clearTimeout(timer);
        t.onData(() => {});
        resolve(acc);
      }
    });
  });
}

async function settle(t) {
  t.write('echo "READY-$((3*4))"\r');
  await waitOutput(t, (s) => s.includes('READY-12'));
  await sleep(100);
}

/** Keystroke-to-echo round trips, in ms. */
async function echoLatency(t, keys) {
  await settle(t);
  const samples = [];
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  for (let i = 0; i < keys; i++) {
    if (i > 0 && i % 50 === 0) {
      t.write('\x15'); // ^U: kill the line, untimed
      await sleep(20);
    }
    const ch = letters[i % letters.length];
    const got = waitOutput(t, (s) => s.includes(ch));
    const t0 = performance.now();
    t.write(ch);
    await got;
    samples.push(performance.now() - t0);
  }
  t.write('\x15');
  await sleep(20);
  return samples;
}

/** MB/s of `cat` of the bulk file reaching this process. */
async function bulk(t) {
  await settle(t);
  let bytes = 0;
  let tail = '';
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('bulk timed out')), 300_000);
    t.onData((d, n) => {
      bytes += n ?? d.length;
      tail = (tail + d).slice(-64);
      if (tail.includes(BULK_MARK)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const t0 = performance.now();
  t.write(BULK_CMD);
  await done;
  const ms = performance.now() - t0;
  t.onData(() => {});
  if (bytes < bulkBytes) throw new Error(`bulk: only ${bytes} of ${bulkBytes} bytes arrived`);
  await sleep(100);
  return { mbps: bulkBytes / 1e6 / (ms / 1000), ms, bytes };
}

// ---- run --------------------------------------------------------------------------------------

const icpyChild = forkChild(join(here, 'lib/icpy-server.mjs'), [root, '--host', '127.0.0.1', '--port', '0', '--token', TOKEN, '--log-level', 'warn']);
const { url } = await nextMessage(icpyChild, 'ready');
const jupyter =
  process.env.BENCH_JUPYTER === '0'
    ? { error: 'BENCH_JUPYTER=0' }
    : await startJupyter({
        root,
        env: ENV,
        args: [`--ServerApp.terminado_settings={'shell_command':['/bin/bash','--norc','--noprofile']}`],
      });
if (jupyter.error) process.stderr.write(`bench/terminals: Jupyter Server skipped: ${jupyter.error}\n`);

const makers = {
  'raw-node-pty': () => rawTerminal(),
  'icpy-ws-json': async () => {
    const t = await icpyTerminal(url, 'json');
    await t.attach();
    return t;
  },
  'icpy-ws-binary': async () => {
    const t = await icpyTerminal(url, 'binary');
    await t.attach();
    return t;
  },
  ...(jupyter.error ? {} : { 'jupyter-terminado': () => jupyterTerminal(jupyter.url, jupyter.token) }),
};

// Echo latency.
for (const [name, make] of Object.entries(PARTS.has('echo') ? makers : {})) {
  if (name === 'icpy-ws-binary') continue; // keystroke echo is one small frame either way
  const t = await make();
  await echoLatency(t, 50); // warm-up
  const samples = [];
  for (let r = 0; r < ROUNDS; r++) samples.push(...(await echoLatency(t, Math.ceil(ECHO_KEYS / ROUNDS))));
  await t.close();
  if (process.env.BENCH_DEBUG) {
    const top = samples.map((v, i) => [i, round(v, 2)]).sort((a, b) => b[1] - a[1]).slice(0, 15);
    process.stderr.write(`${name} slowest ${JSON.stringify(top)}\n`);
  }
  emit({
    bench: 'terminals',
    figure: 'echo_latency_ms',
    target: name,
    p50: round(percentile(samples, 50), 3),
    p99: round(percentile(samples, 99), 3),
    max: round(Math.max(...samples), 3),
    keys: samples.length,
  });
}

// Bulk throughput: rounds alternate between the targets so drift hits all alike.
const bulkRuns = Object.fromEntries(Object.keys(makers).map((k) => [k, []]));
const terms = {};
if (PARTS.has('bulk')) for (const [name, make] of Object.entries(makers)) terms[name] = await make();
for (let r = 0; PARTS.has('bulk') && r < ROUNDS + 1; r++) {
  for (const name of Object.keys(makers)) {
    const res = await bulk(terms[name]);
    if (process.env.BENCH_DEBUG) process.stderr.write(`${name} ${JSON.stringify(res)}\n`);
    if (r > 0) bulkRuns[name].push(res.mbps); // first round warms up
  }
}
const rawMbps = median(bulkRuns['raw-node-pty']);
for (const name of PARTS.has('bulk') ? Object.keys(makers) : []) {
  emit({
    bench: 'terminals',
    figure: 'bulk_throughput_mb_s',
    target: name,
    median: round(median(bulkRuns[name]), 1),
    rounds: bulkRuns[name].map((x) => round(x, 1)),
    ratio_to_raw: round(median(bulkRuns[name]) / rawMbps, 3),
    file_mb: BULK_MB,
  });
}
for (const t of Object.values(terms)) await t.close();

// Scrollback replay of 1 MiB (icpy's default scrollback), json and binary, vs a bare ws frame.
if (PARTS.has('replay')) {
  const filler = await icpyTerminal(url, 'json');
  filler.write(`head -c 3000000 '${join(root, 'big.txt')}'; echo; echo "FILLED-$((5*5))"\r`);
  await filler.attach();
  await waitOutput(filler, (s) => s.includes('FILLED-25'), 30_000);
  for (const encoding of ['json', 'binary']) {
    const samples = [];
    let bytes = 0;
    for (let r = 0; r < ROUNDS + 1; r++) {
      const c = await icpyTerminal(url, encoding, false);
      let got = 0;
      let target = Infinity;
      let t0 = 0;
      const done = new Promise((resolve) =>
        c.onData((d, n) => {
          got += n ?? Buffer.byteLength(d);
          if (got >= target) resolve();
        }),
      );
      t0 = performance.now();
      const res = await c.call('terminal.attach', { id: filler.id, since: 0, encoding });
      target = res.end - res.offset;
      if (got < target) await done;
      const ms = performance.now() - t0;
      if (r > 0) samples.push(ms);
      bytes = target;
      c.ws.close();
    }
    emit({ bench: 'terminals', figure: 'replay_ms', target: `icpy-ws-${encoding}`, bytes, median: round(median(samples), 2), max: round(Math.max(...samples), 2) });
  }
  await filler.close();

  // Baseline: the same number of bytes as one text frame over a bare ws server.
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await new Promise((r) => wss.once('listening', r));
  const payload = line.repeat(Math.ceil((1 << 20) / line.length)).slice(0, 1 << 20);
  const samples = [];
  for (let r = 0; r < ROUNDS + 1; r++) {
    const ws = new WebSocket(`ws://127.0.0.1:${wss.address().port}`);
    const [server] = await Promise.all([new Promise((r2) => wss.once('connection', r2)), new Promise((r2) => ws.once('open', r2))]);
    const got = new Promise((r2) => ws.once('message', r2));
    const t0 = performance.now();
    server.send(payload);
    await got;
    if (r > 0) samples.push(performance.now() - t0);
    ws.close();
  }
  wss.close();
  emit({ bench: 'terminals', figure: 'replay_ms', target: 'bare-ws-1-frame', bytes: payload.length, median: round(median(samples), 2), max: round(Math.max(...samples), 2) });
}

jupyter.stop?.();
await stopChild(icpyChild);
process.exit(0);
