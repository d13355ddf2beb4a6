// A Jupyter kernel client for the exec bench: start a kernel through Jupyter Server's REST API
// (POST /api/kernels) and execute code over its kernel WebSocket (/api/kernels/{id}/channels,
// JSON form of the Jupyter messaging protocol 5.3: one JSON object per frame, `channel` naming
// shell/iopub/stdin/control). No dependencies beyond `ws`.
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

/**
 * Start a kernel (`name`, default python3) and connect to its channels. Resolves once the kernel
 * answers kernel_info_request, so the first execute is not the kernel's start-up. `startMs` is
 * the wall time from POST /api/kernels to that answer.
 */
export async function startKernel(base, token, name = 'python3') {
  const auth = { authorization: `token ${token}` };
  const t0 = performance.now();
  const res = await fetch(`${base}/api/kernels`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name }) });
  if (!res.ok) throw new Error(`POST /api/kernels: HTTP ${res.status} ${await res.text()}`);
  const { id } = await res.json();
  const session = randomUUID();
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/kernels/${id}/channels?session_id=${session}&token=${token}`, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  // Replies are matched to requests by parent_header.msg_id.
  const waiting = new Map();
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    const w = waiting.get(m.parent_header?.msg_id);
    if (w) w(m);
  });
  const message = (msgType, content, channel = 'shell') => ({
    header: { msg_id: randomUUID(), username: 'bench', session, msg_type: msgType, version: '5.3', date: new Date().toISOString() },
    parent_header: {},
    metadata: {},
    content,
    channel,
    buffers: [],
  });

  /** Send a request; resolve with the messages it caused once `done(messages)` holds. */
  const request = (msg, done, timeoutMs = 30_000) =>
    new Promise((resolve, reject) => {
      const got = [];
      const timer = setTimeout(() => {
        waiting.delete(msg.header.msg_id);
        reject(new Error(`kernel: no complete answer to ${msg.header.msg_type} within ${timeoutMs} ms`));
      }, timeoutMs);
      waiting.set(msg.header.msg_id, (m) => {
        got.push(m);
        if (done(got)) {
          clearTimeout(timer);
          waiting.delete(msg.header.msg_id);
          resolve(got);
        }
      });
      ws.send(JSON.stringify(msg));
    });
  const idle = (got) => got.some((m) => m.channel === 'iopub' && m.msg_type === 'status' && m.content.execution_state === 'idle');
  const reply = (type) => (got) => got.some((m) => m.channel === 'shell' && m.msg_type === type);

  // kernel_info_request is retried: a kernel still starting may drop the first one.
  for (let i = 0; ; i++) {
    try {
      await request(message('kernel_info_request', {}), reply('kernel_info_reply'), 5_000);
      break;
    } catch (err) {
      if (i >= 5) throw err;
    }
  }
  const startMs = performance.now() - t0;

  return {
    id,
    startMs,
    /**
     * Execute `code`; resolves `{ms, stdout, outputMs}` when the execute_reply and the iopub
     * `status: idle` have both arrived (the kernel is done and the client has everything).
     * `outputMs` is when the first stdout stream message arrived.
     */
    async execute(code) {
      const msg = message('execute_request', { code, silent: false, store_history: false, user_expressions: {}, allow_stdin: false, stop_on_error: true });
      const t = performance.now();
      let outputMs;
      const got = await request(msg, (g) => {
        const last = g[g.length - 1];
        if (outputMs === undefined && last.msg_type === 'stream') outputMs = performance.now() - t;
        return idle(g) && reply('execute_reply')(g);
      });
      const ms = performance.now() - t;
      const stdout = got.filter((m) => m.msg_type === 'stream' && m.content.name === 'stdout').map((m) => m.content.text).join('');
      const status = got.find((m) => m.msg_type === 'execute_reply').content.status;
      if (status !== 'ok') throw new Error(`kernel: execute_reply status ${status}`);
      return { ms, stdout, outputMs };
    },
    async close() {
      ws.close();
      await fetch(`${base}/api/kernels/${id}`, { method: 'DELETE', headers: auth }).catch(() => {});
    },
  };
}
