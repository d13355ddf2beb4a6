import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/app/logger.js';
import { connect, RpcError, startServer, type TestServer } from './helpers/server.js';

const auth = (s: TestServer) => ({ authorization: `Bearer ${s.token}` });

async function forbidden(p: Promise<unknown>): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RpcError);
  expect((err as RpcError).code).toBe(-32003);
  expect((err as RpcError).data.code).toBe('FORBIDDEN');
}

describe('read-only server: one scope check on every transport', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ readOnly: true });
    writeFileSync(join(s.root, 'a.txt'), 'hello\n');
  });
  afterAll(async () => {
    await s.close();
  });

  it('WebSocket: writes and terminals are FORBIDDEN, reads work', async () => {
    const c = await connect(s);
    try {
      await forbidden(c.call('files.write', { path: 'x.txt', content: 'x' }));
      await forbidden(c.call('files.delete', { path: 'a.txt' }));
      await forbidden(c.call('terminal.create', {}));
      expect((await c.call('files.read', { path: 'a.txt' })).content).toBe('hello\n');
    } finally {
      await c.close();
    }
  });

  it('HTTP POST /api/rpc (single and batch): writes are FORBIDDEN, reads work', async () => {
    await forbidden(s.call('files.write', { path: 'x.txt', content: 'x' }));
    const batch = await s.rpc([
      { jsonrpc: '2.0', id: 1, method: 'files.mkdir', params: { path: 'd' } },
      { jsonrpc: '2.0', id: 2, method: 'files.stat', params: { path: 'a.txt' } },
    ]);
    expect(batch.body[0].error.data.code).toBe('FORBIDDEN');
    expect(batch.body[1].result.type).toBe('file');
  });

  it('HTTP POST /api/rpc/{method}: 403 with a JSON-RPC envelope; reads work', async () => {
    const res = await fetch(`${s.url}/api/rpc/files.write`, { method: 'POST', headers: { ...auth(s), 'content-type': 'application/json' }, body: JSON.stringify({ path: 'x.txt', content: 'x' }) });
    expect(res.status).toBe(403);
    expect((await res.json()) as any).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32003, data: { code: 'FORBIDDEN', scope: 'write' } } });
    const ok = await fetch(`${s.url}/api/rpc/files.stat`, { method: 'POST', headers: auth(s), body: JSON.stringify({ path: 'a.txt' }) });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as any).type).toBe('file');
  });

  it('REST: PUT and DELETE are 403 FORBIDDEN; GET, HEAD and ?stat work', async () => {
    const put = await fetch(`${s.url}/api/files/x.txt`, { method: 'PUT', headers: auth(s), body: 'x' });
    expect(put.status).toBe(403);
    expect(((await put.json()) as any).error.data.code).toBe('FORBIDDEN');
    const del = await fetch(`${s.url}/api/files/a.txt`, { method: 'DELETE', headers: auth(s) });
    expect(del.status).toBe(403);
    expect(((await del.json()) as any).error.data.code).toBe('FORBIDDEN');
    const get = await fetch(`${s.url}/api/files/a.txt`, { headers: auth(s) });
    expect(get.status).toBe(200);
    expect(await get.text()).toBe('hello\n');
    const stat = await fetch(`${s.url}/api/files/a.txt?stat`, { headers: auth(s) });
    expect(((await stat.json()) as any).size).toBe(6);
    expect(existsSync(join(s.root, 'x.txt'))).toBe(false);
    expect(readFileSync(join(s.root, 'a.txt'), 'utf8')).toBe('hello\n');
  });

  it('SSE (read scope) still streams', async () => {
    const ac = new AbortController();
    const res = await fetch(`${s.url}/api/events?patterns=**`, { headers: auth(s), signal: ac.signal });
    expect(res.status).toBe(200);
    ac.abort();
    await res.body?.cancel().catch(() => undefined);
  });
});

describe('REST file routes run through the dispatcher', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer();
    mkdirSync(join(s.root, 'dir'));
    writeFileSync(join(s.root, 'f.txt'), 'f');
  });
  afterAll(async () => {
    await s.close();
  });

  it('PUT If-Match: * on a folder is IS_A_DIRECTORY, outside the root PATH_OUTSIDE_WORKSPACE (not 412)', async () => {
    const dir = await fetch(`${s.url}/api/files/dir`, { method: 'PUT', headers: { ...auth(s), 'if-match': '*' }, body: 'x' });
    expect(dir.status).toBe(400);
    expect(((await dir.json()) as any).error.data.code).toBe('IS_A_DIRECTORY');
    const out = await fetch(`${s.url}/api/files/%2Fetc%2Fhostname`, { method: 'PUT', headers: { ...auth(s), 'if-match': '*' }, body: 'x' });
    expect(out.status).toBe(403);
    expect(((await out.json()) as any).error.data.code).toBe('PATH_OUTSIDE_WORKSPACE');
    const missing = await fetch(`${s.url}/api/files/nope.txt`, { method: 'PUT', headers: { ...auth(s), 'if-match': '*' }, body: 'x' });
    expect(missing.status).toBe(412);
    expect(((await missing.json()) as any).error.data.code).toBe('VERSION_CONFLICT');
  });

  it('a bug (non-IcpyError throw) behind a REST route is logged and answered as INTERNAL_ERROR', async () => {
    const logged: string[] = [];
    const t = await startServer({}, { logger: createLogger('debug', 'tok-' + Math.random(), (l) => void logged.push(l)) });
    try {
      writeFileSync(join(t.root, 'g.txt'), 'g');
      // Fault injection: the declared operation the GET route runs starts throwing a plain Error.
      const op = t.app.registry.getOperation('files.rest.open')!;
      const real = op.handler;
      op.handler = () => {
        throw new TypeError('simulated bug in files.rest.open');
      };
      const res = await fetch(`${t.url}/api/files/g.txt`, { headers: auth(t) });
      op.handler = real;
      expect(res.status).toBe(500);
      const body = (await res.json()) as any;
      expect(body.error.data.code).toBe('INTERNAL_ERROR');
      expect(JSON.stringify(body)).not.toContain('simulated bug');
      expect(logged.some((l) => l.includes('simulated bug in files.rest.open') && l.includes('"level":"error"'))).toBe(true);
    } finally {
      await t.close();
    }
  });
});

/** Threads of this process (the built-in search engine runs in a worker thread). */
function threads(): number {
  return Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
}

/** The thread count once threads of earlier work have ended (the lowest of a few samples). */
async function settledThreads(): Promise<number> {
  let min = threads();
  for (let i = 0; i < 8; i++) {
    await new Promise((r) => setTimeout(r, 50));
    min = Math.min(min, threads());
  }
  return min;
}

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// The built-in engine (forced, so this runs where rg is installed too) runs each search in a worker
// thread, visible as one more thread of this process while it runs; ripgrep's linear-time regex
// would finish at once.
describe('ctx.signal: a search stops when its caller goes away', () => {
  let s: TestServer;
  // A catastrophically backtracking regex on a long line: the built-in engine's worker would spin
  // until its 30 s limit unless cancelled.
  const slow = { query: '(a+)+$', regex: true };
  beforeAll(async () => {
    s = await startServer({ searchEngine: 'builtin' });
    writeFileSync(join(s.root, 'evil.txt'), 'a'.repeat(40) + '!\n');
    // Warm up: one finished search, so thread pools that stay are already there.
    await s.call('files.search', { query: 'zzz' });
  });
  afterAll(async () => {
    await s.close();
  });

  it('HTTP: aborting the fetch stops the search worker', async () => {
    const base = await settledThreads();
    const ac = new AbortController();
    const pending = fetch(`${s.url}/api/rpc/files.search`, { method: 'POST', headers: { ...auth(s), 'content-type': 'application/json' }, body: JSON.stringify(slow), signal: ac.signal }).catch(
      (e: unknown) => e,
    );
    await until(() => threads() > base, 10_000, 'the search worker to start');
    ac.abort();
    expect(await pending).toMatchObject({ name: 'AbortError' });
    await until(() => threads() <= base, 5000, 'the search worker to stop');
  });

  it('WebSocket: closing the socket stops the search worker', async () => {
    const base = await settledThreads();
    const c = await connect(s);
    const pending = c.call('files.search', slow).catch((e: unknown) => e);
    await until(() => threads() > base, 10_000, 'the search worker to start');
    await c.close();
    await pending;
    await until(() => threads() <= base, 5000, 'the search worker to stop');
  });
});
