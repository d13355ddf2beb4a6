// A hostile client in its own process (so its work does not share the test's event loop): for
// FLOOD_MS it floods files.read of PATH — three loops of HTTP JSON-RPC batches of 4, two WebSocket
// connections with 4 calls in flight, four loops of REST GETs. Replies are counted, not parsed.
// Prints one JSON line: { ok, limited, other } (limited: LIMIT_EXCEEDED / REPLY_TOO_LARGE / 429).
import WebSocket from 'ws';

const [url, token, path, floodMs] = [process.argv[2], process.argv[3], process.argv[4], Number(process.argv[5])];
const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
const until = Date.now() + floodMs;
const outcomes = { ok: 0, limited: 0, other: 0 };
const count = (code) => {
  if (code === undefined) outcomes.ok++;
  else if (code === 'LIMIT_EXCEEDED' || code === 'REPLY_TOO_LARGE') outcomes.limited++;
  else outcomes.other++;
};
const read = { method: 'files.read', params: { path } };

const httpBatches = async () => {
  while (Date.now() < until) {
    const batch = Array.from({ length: 4 }, (_, i) => ({ jsonrpc: '2.0', id: i, ...read }));
    const res = await fetch(`${url}/api/rpc`, { method: 'POST', headers: auth, body: JSON.stringify(batch) });
    const text = Buffer.from(await res.arrayBuffer()).toString('latin1');
    const codes = [...text.matchAll(/"code":"([A-Z_]+)"/g)].map((m) => m[1]);
    for (let i = 0; i < 4; i++) count(codes[i]);
  }
};
const wsCalls = async () => {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/ws?token=${encodeURIComponent(token)}`);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let id = 0;
  while (Date.now() < until) {
    await new Promise((resolve) => {
      let left = 4;
      const onMsg = (data) => {
        const head = data.subarray(0, 200).toString('latin1');
        if (/"method":/.test(head) && !/"id":/.test(head)) return; // a notification, not a reply
        count(/"error"/.test(head) ? (/"code":"([A-Z_]+)"/.exec(data.subarray(-300).toString('latin1'))?.[1] ?? 'ERROR') : undefined);
        if (--left === 0) {
          ws.off('message', onMsg);
          resolve();
        }
      };
      ws.on('message', onMsg);
      for (let i = 0; i < 4; i++) ws.send(JSON.stringify({ jsonrpc: '2.0', id: ++id, ...read }));
    });
  }
  ws.terminate();
};
const restGets = async () => {
  while (Date.now() < until) {
    const res = await fetch(`${url}/api/files/${path}`, { headers: auth });
    await res.arrayBuffer();
    count(res.status === 200 ? undefined : res.status === 429 ? 'LIMIT_EXCEEDED' : String(res.status));
  }
};
await Promise.all([httpBatches(), httpBatches(), httpBatches(), wsCalls(), wsCalls(), restGets(), restGets(), restGets(), restGets()]);
console.log(JSON.stringify(outcomes));
