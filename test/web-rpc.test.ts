// The web workspace's RpcClient (web/src/rpc.ts) against a real server over real sockets: Node's
// `ws` stands in for the browser's WebSocket (same onopen/onmessage/onclose surface) and the
// token rides in the URL where the browser uses its session cookie.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

// Loaded by a computed specifier: web/ is typechecked with DOM libs by web/tsconfig.json; a static
// import would pull the browser code into this Node-typed program.
const rpcModule = '../web/src/rpc.js';
const { IcpyRpc } = (await import(rpcModule)) as { IcpyRpc: new (url: string, httpBase?: string) => IcpyRpc };
interface IcpyEvent { topic: string; seq: number; data: any }
interface IcpyRpc {
  readonly state: string;
  readonly connectionId: string | undefined;
  unauthorized: boolean;
  call(method: string, params?: Record<string, unknown>): Promise<any>;
  subscribe(patterns: string[], handler: (ev: IcpyEvent) => void, onGap?: () => void): () => void;
  onState(h: (s: string) => void): () => void;
  onOpen(h: () => void): () => void;
  onUnauthorized(h: () => void): () => void;
  dispose(): void;
}
import { startServer, type TestServer } from './helpers/server.js';

beforeAll(() => {
  (globalThis as any).WebSocket ??= WebSocket;
});

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function client(s: TestServer, token = s.token): IcpyRpc {
  const rpc = new IcpyRpc(`${s.wsUrl}?token=${token}&kind=browser&name=tester`, s.url);
  cleanup.push(async () => {
    const ws = (rpc as any).ws as WebSocket | undefined;
    rpc.dispose();
    if (ws && ws.readyState !== ws.CLOSED) await new Promise((r) => ws.addEventListener('close', r));
  });
  return rpc;
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function server(): Promise<TestServer> {
  const s = await startServer();
  cleanup.push(() => s.close());
  return s;
}

describe('web RpcClient', () => {
  it('calls, knows its connection id, and goes open', async () => {
    const s = await server();
    const rpc = client(s);
    const states: string[] = [];
    rpc.onState((st) => states.push(st));
    const info = await rpc.call('server.info');
    expect(info.name).toBe('icpy');
    await until(() => rpc.state === 'open', 'open');
    expect(rpc.connectionId).toMatch(/^c-/);
    const me = await rpc.call('connections.whoami');
    expect(me).toMatchObject({ id: rpc.connectionId, kind: 'browser', name: 'tester' });
    expect(states).toContain('open');
  });

  it('after a dropped socket it reconnects and delivers the missed events once, in order', async () => {
    const s = await server();
    const rpc = client(s);
    const got: IcpyEvent[] = [];
    let gaps = 0;
    rpc.subscribe(['fs.file.*'], (ev) => got.push(ev), () => gaps++);
    await until(() => rpc.state === 'open', 'open');
    await s.call('files.write', { path: 'a.txt', content: '1' });
    await until(() => got.some((e) => e.data.paths.includes('a.txt')), 'first event');
    const opens: number[] = [];
    rpc.onOpen(() => opens.push(Date.now()));
    const firstId = rpc.connectionId;
    (rpc as any).ws.terminate();
    await until(() => rpc.state === 'reconnecting', 'reconnecting');
    for (const n of ['b', 'c', 'd']) await s.call('files.write', { path: `${n}.txt`, content: n });
    await until(() => ['b', 'c', 'd'].every((n) => got.some((e) => e.data.paths.includes(`${n}.txt`))), 'missed events', 15_000);
    await until(() => rpc.state === 'open', 'open again');
    expect(rpc.connectionId).not.toBe(firstId);
    expect(opens.length).toBeGreaterThanOrEqual(1);
    const seqs = got.map((e) => e.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    expect(gaps).toBe(0);
    // Queued while down works too: a call made during a drop runs after the reconnect.
    (rpc as any).ws.terminate();
    await until(() => rpc.state === 'reconnecting', 'reconnecting 2');
    expect((await rpc.call('server.info')).name).toBe('icpy');
  });

  it('a restarted server (new event log) makes the subscription resync through onGap', async () => {
    const first = await startServer({}, { keepRoot: true });
    const port = Number(new URL(first.url).port);
    const rpc = new IcpyRpc(`${first.wsUrl}?token=${first.token}&kind=browser&name=tester`, first.url);
    let gaps = 0;
    const got: IcpyEvent[] = [];
    rpc.subscribe(['fs.file.*'], (ev) => got.push(ev), () => gaps++);
    await until(() => rpc.state === 'open', 'open');
    await first.close();
    await until(() => rpc.state === 'reconnecting', 'reconnecting');
    const second = await startServer({ root: first.root, token: first.token, port });
    cleanup.push(() => second.close());
    cleanup.push(async () => {
      const ws = (rpc as any).ws as WebSocket | undefined;
      rpc.dispose();
      if (ws && ws.readyState !== ws.CLOSED) await new Promise((r) => ws.addEventListener('close', r));
    });
    await until(() => rpc.state === 'open', 'open on the new server', 15_000);
    expect(gaps).toBe(1);
    writeFileSync(join(first.root, 'native.txt'), 'x');
    await second.call('files.write', { path: 'after.txt', content: 'x' });
    await until(() => got.some((e) => e.data.paths.includes('after.txt')), 'event from the new server');
  });

  it('a refused session (wrong token) ends in unauthorized, not endless retries', async () => {
    const s = await server();
    const rpc = client(s, 'wrong-token');
    let told = 0;
    rpc.onUnauthorized(() => told++);
    await until(() => rpc.unauthorized, 'unauthorized');
    expect(rpc.state).toBe('closed');
    expect(told).toBe(1);
    await expect(rpc.call('server.info')).rejects.toThrow(/Not connected/);
  });
});
