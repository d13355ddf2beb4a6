// For bench/abuse: the "other client". GET /api/health one request at a time (a fresh
// keep-alive socket after any failure) every HEALTH_GAP_MS for `durationMs`, each request with a
// timeout; reports every latency (a timed-out request counts as the timeout), timeouts and
// connection errors. A separate process, so a flood or the coordinator cannot delay it.
import { Agent, request } from 'node:http';
import { exitWithParent, send } from './ipc-child.mjs';

exitWithParent();

function once(agent, url, timeoutMs) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const u = new URL('/api/health', url);
    let settled = false;
    const done = (outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ms: performance.now() - t0, outcome });
    };
    const req = request({ agent, host: u.hostname, port: u.port, path: u.pathname, method: 'GET' }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode === 200 ? 'ok' : `http-${res.statusCode}`));
      res.on('error', () => done('error'));
    });
    const timer = setTimeout(() => {
      req.destroy();
      done('timeout');
    }, timeoutMs);
    req.on('error', (err) => done(err.code ?? 'error'));
    req.end();
  });
}

async function run({ url, durationMs, timeoutMs, gapMs }) {
  let agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const lat = [];
  const failures = {};
  const deadline = performance.now() + durationMs;
  while (performance.now() < deadline) {
    const r = await once(agent, url, timeoutMs);
    if (r.outcome === 'ok' || r.outcome === 'timeout') lat.push(Math.min(r.ms, timeoutMs));
    if (r.outcome !== 'ok') {
      failures[r.outcome] = (failures[r.outcome] ?? 0) + 1;
      agent.destroy();
      agent = new Agent({ keepAlive: true, maxSockets: 1 });
      // a refused connection answers at once: do not spin
      if (r.outcome !== 'timeout') await new Promise((res) => setTimeout(res, 50));
    }
    if (gapMs) await new Promise((res) => setTimeout(res, gapMs));
  }
  agent.destroy();
  return { lat: Float64Array.from(lat), failures };
}

process.on('message', async (m) => {
  if (m?.cmd === 'run') send({ type: 'run.ok', ...(await run(m)) });
  else if (m?.cmd === 'probe') {
    // one request: is the server answering at all?
    const agent = new Agent({ keepAlive: false });
    const r = await once(agent, m.url, m.timeoutMs);
    send({ type: 'probe.ok', ...r });
  }
});
send({ type: 'ready' });
