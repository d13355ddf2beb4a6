import { mkdirSync, readlinkSync, symlinkSync, writeFileSync, existsSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, RpcError, startServer, type TestServer, type WsClient } from './helpers/server.js';

async function failure(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RpcError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

describe('bad file input gets a stable error naming the field (never -32603)', () => {
  let s: TestServer;
  let c: WsClient;

  beforeAll(async () => {
    s = await startServer();
    c = await connect(s);
    writeFileSync(join(s.root, 'plain.txt'), 'x');
  });
  afterAll(async () => {
    await c.close();
    await s.close();
  });

  const long = 'n'.repeat(300);
  const cases: [string, Record<string, unknown>, string][] = [
    ['files.write', { path: long, content: 'x' }, 'path'],
    ['files.write', { path: `dir/${long}/x.txt`, content: 'x', mkdirs: true }, 'path'],
    ['files.mkdir', { path: long }, 'path'],
    ['files.read', { path: long }, 'path'],
    ['files.stat', { path: `${long}/x` }, 'path'],
    ['files.list', { path: long }, 'path'],
    ['files.delete', { path: long }, 'path'],
    ['files.move', { from: 'plain.txt', to: long }, 'to'],
    ['files.move', { from: long, to: 'x.txt' }, 'from'],
    ['files.copy', { from: 'plain.txt', to: long }, 'to'],
  ];
  for (const [method, params, field] of cases) {
    it(`${method} with a name over 255 bytes (ENAMETOOLONG) → INVALID_PARAMS, field ${field}`, async () => {
      const e = await failure(c.call(method, params));
      expect(e.code).toBe(-32602);
      expect(e.data).toMatchObject({ code: 'INVALID_PARAMS', field, errno: 'ENAMETOOLONG' });
    });
  }

  it('REST PUT of a too-long name → 400 INVALID_PARAMS', async () => {
    const res = await fetch(`${s.url}/api/files/${long}`, { method: 'PUT', headers: { authorization: `Bearer ${s.token}` }, body: 'x' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.data).toMatchObject({ code: 'INVALID_PARAMS', field: 'path' });
  });

  it('a path through a file (ENOTDIR) → NOT_A_DIRECTORY', async () => {
    for (const [m, p] of [
      ['files.write', { path: 'plain.txt/x', content: 'x' }],
      ['files.write', { path: 'plain.txt/x/y', content: 'x', mkdirs: true }],
      ['files.mkdir', { path: 'plain.txt/sub' }],
      ['files.list', { path: 'plain.txt' }],
    ] as const) {
      const e = await failure(c.call(m, p));
      expect(e.data.code, `${m} ${JSON.stringify(p)}`).toBe('NOT_A_DIRECTORY');
    }
  });

  it('a symlink loop (ELOOP) → PATH_OUTSIDE_WORKSPACE naming the field', async () => {
    symlinkSync('loop-b', join(s.root, 'loop-a'));
    symlinkSync('loop-a', join(s.root, 'loop-b'));
    for (const [m, p, field] of [
      ['files.read', { path: 'loop-a' }, 'path'],
      ['files.write', { path: 'loop-a/x', content: 'x' }, 'path'],
      ['files.copy', { from: 'loop-a', to: 'z' }, 'from'],
    ] as const) {
      const e = await failure(c.call(m, p));
      expect(e.data).toMatchObject({ code: 'PATH_OUTSIDE_WORKSPACE', field });
    }
  });

  it.skipIf(process.getuid?.() === 0)('a folder without write permission (EACCES) → FORBIDDEN', async () => {
    const { chmodSync } = await import('node:fs');
    mkdirSync(join(s.root, 'locked'));
    chmodSync(join(s.root, 'locked'), 0o500);
    try {
      const e = await failure(c.call('files.write', { path: 'locked/x.txt', content: 'x' }));
      expect(e.data).toMatchObject({ code: 'FORBIDDEN', field: 'path' });
    } finally {
      chmodSync(join(s.root, 'locked'), 0o700);
    }
  });
});

describe('moving or copying a symlink keeps it inside the workspace', () => {
  let s: TestServer;
  let c: WsClient;

  beforeAll(async () => {
    s = await startServer();
    c = await connect(s);
    mkdirSync(join(s.root, 'deep/a/b'), { recursive: true });
    writeFileSync(join(s.root, 'deep/target.txt'), 't');
    // deep/a/b/rel → ../../target.txt = deep/target.txt: inside here, outside from the root.
    symlinkSync('../../target.txt', join(s.root, 'deep/a/b/rel'));
    symlinkSync(join(s.root, 'deep/target.txt'), join(s.root, 'deep/a/b/abs'));
  });
  afterAll(async () => {
    await c.close();
    await s.close();
  });

  it('refuses to move a relative link to a depth where it points outside, naming the link', async () => {
    const e = await failure(c.call('files.move', { from: 'deep/a/b/rel', to: 'rel' }));
    expect(e.data).toMatchObject({ code: 'PATH_OUTSIDE_WORKSPACE', field: 'from', link: 'deep/a/b/rel', target: '../../target.txt' });
    expect(existsSync(join(s.root, 'rel')) || lstatSync(join(s.root, 'deep/a/b/rel')).isSymbolicLink()).toBe(true);
    expect(() => lstatSync(join(s.root, 'rel'))).toThrow();
  });

  it('refuses to move or copy a folder holding such a link', async () => {
    const mv = await failure(c.call('files.move', { from: 'deep/a/b', to: 'b2' }));
    expect(mv.data).toMatchObject({ code: 'PATH_OUTSIDE_WORKSPACE', link: 'deep/a/b/rel' });
    const cp = await failure(c.call('files.copy', { from: 'deep/a/b', to: 'b3' }));
    expect(cp.data).toMatchObject({ code: 'PATH_OUTSIDE_WORKSPACE', link: 'deep/a/b/rel' });
    expect(() => lstatSync(join(s.root, 'b2'))).toThrow();
    expect(() => lstatSync(join(s.root, 'b3'))).toThrow();
  });

  it('moves and copies links that stay inside (same folder, same depth, absolute targets)', async () => {
    await c.call('files.move', { from: 'deep/a/b/rel', to: 'deep/a/b/rel2' });
    expect(readlinkSync(join(s.root, 'deep/a/b/rel2'))).toBe('../../target.txt');
    mkdirSync(join(s.root, 'other/x'), { recursive: true });
    await c.call('files.copy', { from: 'deep/a', to: 'other/a' });
    expect(readlinkSync(join(s.root, 'other/a/b/rel2'))).toBe('../../target.txt');
    await c.call('files.move', { from: 'deep/a/b/abs', to: 'abs' });
    expect(readlinkSync(join(s.root, 'abs'))).toBe(join(s.root, 'deep/target.txt'));
  });
});

describe('concurrent content searches', () => {
  let s: TestServer;
  let c: WsClient;

  beforeAll(async () => {
    s = await startServer({ limits: { maxConcurrentSearches: 1 } });
    c = await connect(s);
    for (let i = 0; i < 200; i++) writeFileSync(join(s.root, `f${i}.txt`), 'needle\n'.repeat(50));
  });
  afterAll(async () => {
    await c.close();
    await s.close();
  });

  it('refuses a search past limits.maxConcurrentSearches with LIMIT_EXCEEDED, and frees the slot after', async () => {
    c.send([1, 2, 3].map((id) => ({ jsonrpc: '2.0', id, method: 'files.search', params: { query: 'needle', maxResults: 10_000 } })));
    await c.waitFor(() => c.notifications.filter((n) => n.method === '(response)').length === 3, 20_000, 'replies');
    const replies = c.notifications.filter((n) => n.method === '(response)').map((n) => n.params);
    const refused = replies.filter((r) => r.error);
    expect(replies.filter((r) => r.result).length).toBeGreaterThanOrEqual(1);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    for (const r of refused) expect(r.error.data).toEqual({ code: 'LIMIT_EXCEEDED', limit: 'maxConcurrentSearches', max: 1 });
    // once they are done, the next search runs
    expect((await c.call('files.search', { query: 'needle', maxResults: 5 })).results.length).toBe(5);
  });
});

describe('user strings never reach Object.prototype', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(async () => {
    await s.close();
  });

  it('serves files named x.constructor / x.__proto__ / x.toString as octet-stream', async () => {
    for (const name of ['x.constructor', 'x.__proto__', 'x.toString', 'x.hasOwnProperty']) {
      writeFileSync(join(s.root, name), 'data');
      const res = await fetch(`${s.url}/api/files/${name}`, { headers: { authorization: `Bearer ${s.token}` } });
      expect(res.status, name).toBe(200);
      expect(res.headers.get('content-type'), name).toBe('application/octet-stream');
      expect(await res.text()).toBe('data');
    }
  });
});
