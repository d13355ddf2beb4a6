// Minimal icpy clients for benches that call methods and watch notifications: JSON-RPC over
// the WebSocket (/api/ws) and over HTTP (POST /api/rpc/{method}, body = params, keep-alive).
import { Agent, request } from 'node:http';
import WebSocket from 'ws';

/**
 * Connect to icpy's WebSocket. `call(method, params)` resolves with the result (rejects with the
 * JSON-RPC error, `.rpc` holding it); `onNotification(cb)` receives every notification `{method,
 * params}` (one callback; pass undefined to drop it); `onBinary(cb)` every binary frame (a Buffer).
 */
export function icpyWs(url, token, name = 'bench') {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/ws?token=${encodeURIComponent(token)}&kind=cli&name=${encodeURIComponent(name)}`, {
      perMessageDeflate: false,
    });
    const pending = new Map();
    let next = 1;
    let onNote;
    let onBinary;
    ws.on('message', (data, isBinary) => {
      if (isBinary) return void onBinary?.(data);
      const m = JSON.parse(data.toString());
      if (m.id === undefined || m.id === null) {
        if (m.method) onNote?.(m);
        return;
      }
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.error) {
        const err = new Error(`${m.error.code} ${m.error.message} ${JSON.stringify(m.error.data ?? {})}`);
        err.rpc = m.error;
        p.reject(err);
      } else p.resolve(m.result);
    });
    ws.once('error', reject);
    ws.once('open', () =>
      resolve({
        ws,
        call(method, params) {
          const id = next++;
          return new Promise((res, rej) => {
            pending.set(id, { resolve: res, reject: rej });
            ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
          });
        },
        onNotification(cb) {
          onNote = cb;
        },
        onBinary(cb) {
          onBinary = cb;
        },
        close() {
          ws.close();
        },
      }),
    );
  });
}

/** icpy over HTTP: `call(method, params)` = POST /api/rpc/{method} on one keep-alive socket. */
export function icpyHttp(url, token) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const u = new URL(url);
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  return {
    call(method, params) {
      return new Promise((resolve, reject) => {
        const req = request({ agent, host: u.hostname, port: u.port, path: `/api/rpc/${method}`, method: 'POST', headers }, (res) => {
          const chunks = [];
          res.on('data', (d) => chunks.push(d));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            if (res.statusCode >= 300) return reject(new Error(`POST /api/rpc/${method}: HTTP ${res.statusCode} ${text.slice(0, 300)}`));
            const body = JSON.parse(text);
            // The route answers the result itself; tolerate a JSON-RPC envelope too.
            resolve(body && body.jsonrpc === '2.0' && 'result' in body ? body.result : body);
          });
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(JSON.stringify(params));
      });
    },
    close() {
      agent.destroy();
    },
  };
}
