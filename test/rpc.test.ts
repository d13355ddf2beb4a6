import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { z } from 'zod';
import { IcpyError } from '../src/core/errors.js';
import { defineMethod } from '../src/core/rpc/index.js';
import { connect, startServer, type TestServer } from './helpers/server.js';

/** Send raw text over a transport; resolve with the parsed reply, or undefined when none is due. */
type RawSend = (text: string) => Promise<any>;

let s: TestServer;

beforeAll(async () => {
  s = await startServer();
  s.app.registry.register(
    defineMethod({
      name: 'test.boom',
      description: 'throws an unexpected error',
      params: z.strictObject({}),
      result: z.null(),
      scope: 'read',
      handler: () => {
        throw new Error('secret internal detail at /some/path');
      },
    }),
    defineMethod({
      name: 'test.add',
      description: 'adds',
      params: z.strictObject({ a: z.number(), b: z.number(), opts: z.strictObject({ round: z.boolean() }).optional() }),
      result: z.number(),
      scope: 'read',
      handler: ({ a, b }) => a + b,
    }),
    defineMethod({
      name: 'test.conflict',
      description: 'fails with a table error',
      params: z.strictObject({}),
      result: z.null(),
      scope: 'read',
      handler: () => {
        throw new IcpyError('VERSION_CONFLICT', 'stale', { currentVersion: 'v2' });
      },
    }),
  );
});
afterAll(async () => {
  await s.close();
});

const httpSend: RawSend = async (text) => {
  const res = await fetch(`${s.url}/api/rpc`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${s.token}` },
    body: text,
  });
  if (res.status === 204) return undefined;
  expect(res.status).toBe(200);
  return res.json();
};

function wsSender(): { send: RawSend; close(): void } {
  let ws: WebSocket | undefined;
  let opened: Promise<void> | undefined;
  const queue: any[] = [];
  let waiter: ((m: any) => void) | undefined;
  const ensure = () => {
    if (!opened) {
      ws = new WebSocket(`${s.wsUrl}?token=${s.token}`);
      ws.on('message', (d) => {
        const m = JSON.parse(d.toString());
        if (waiter) {
          const w = waiter;
          waiter = undefined;
          w(m);
        } else queue.push(m);
      });
      opened = new Promise((r) => ws!.once('open', () => r()));
    }
    return opened;
  };
  const next = (ms: number) =>
    new Promise<any>((resolve) => {
      if (queue.length) return resolve(queue.shift());
      const t = setTimeout(() => {
        waiter = undefined;
        resolve(undefined);
      }, ms);
      waiter = (m) => {
        clearTimeout(t);
        resolve(m);
      };
    });
  return {
    async send(text) {
      await ensure();
      ws!.send(text);
      // Notifications get no reply: wait briefly, then conclude none is due.
      return next(300);
    },
    close: () => ws?.close(),
  };
}

const ws = wsSender();
afterAll(() => ws.close());

describe.each([
  ['HTTP POST /api/rpc', () => httpSend],
  ['WebSocket /api/ws', () => ws.send],
])('JSON-RPC 2.0 over %s', (_name, sender) => {
  const send = (x: unknown) => sender()(typeof x === 'string' ? x : JSON.stringify(x));

  it('answers a call with its result and id', async () => {
    expect(await send({ jsonrpc: '2.0', id: 'a1', method: 'test.add', params: { a: 2, b: 3 } })).toEqual({ jsonrpc: '2.0', id: 'a1', result: 5 });
  });

  it('-32700 on invalid JSON, with id null', async () => {
    const r = await send('{"jsonrpc": "2.0", "method": ');
    expect(r).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700, data: { code: 'PARSE_ERROR' } } });
  });

  it.each([
    ['a non-object', 42],
    ['a missing method', { jsonrpc: '2.0', id: 1 }],
    ['a wrong version', { jsonrpc: '1.0', id: 1, method: 'test.add' }],
    ['a non-string method', { jsonrpc: '2.0', id: 1, method: 5 }],
    ['scalar params', { jsonrpc: '2.0', id: 1, method: 'test.add', params: 3 }],
    ['an empty batch', []],
  ])('-32600 on %s', async (_what, msg) => {
    const r = await send(msg);
    expect(r.error.code).toBe(-32600);
    expect(r.error.data.code).toBe('INVALID_REQUEST');
  });

  it('-32601 for an unknown method', async () => {
    const r = await send({ jsonrpc: '2.0', id: 7, method: 'no.such' });
    expect(r).toMatchObject({ id: 7, error: { code: -32601, message: expect.stringContaining('no.such') } });
  });

  it('-32602 naming the offending field (wrong type, missing, unknown, nested, positional)', async () => {
    let r = await send({ jsonrpc: '2.0', id: 1, method: 'test.add', params: { a: 'x', b: 1 } });
    expect(r.error).toMatchObject({ code: -32602, data: { field: 'a', code: 'INVALID_PARAMS' } });
    expect(r.error.message).toContain('a:');
    r = await send({ jsonrpc: '2.0', id: 2, method: 'test.add', params: { a: 1 } });
    expect(r.error.data.field).toBe('b');
    r = await send({ jsonrpc: '2.0', id: 3, method: 'test.add', params: { a: 1, b: 2, bogus: true } });
    expect(r.error.data.field).toBe('bogus');
    r = await send({ jsonrpc: '2.0', id: 4, method: 'test.add', params: { a: 1, b: 2, opts: { round: 'yes' } } });
    expect(r.error.data.field).toBe('opts.round');
    r = await send({ jsonrpc: '2.0', id: 5, method: 'test.add', params: [1, 2] });
    expect(r.error.code).toBe(-32602);
  });

  it('-32603 for an unexpected throw, without leaking its message or stack', async () => {
    const r = await send({ jsonrpc: '2.0', id: 9, method: 'test.boom' });
    expect(r.error).toEqual({ code: -32603, message: 'Internal error', data: { code: 'INTERNAL_ERROR' } });
    expect(JSON.stringify(r)).not.toContain('secret');
  });

  it('maps icpy errors through the table (code, stable string, data)', async () => {
    const r = await send({ jsonrpc: '2.0', id: 1, method: 'test.conflict' });
    expect(r.error).toEqual({ code: -32022, message: 'stale', data: { code: 'VERSION_CONFLICT', currentVersion: 'v2' } });
  });

  it('gives no reply to notifications, even failing ones', async () => {
    expect(await send({ jsonrpc: '2.0', method: 'test.add', params: { a: 1, b: 1 } })).toBeUndefined();
    expect(await send({ jsonrpc: '2.0', method: 'no.such' })).toBeUndefined();
  });

  it('handles a batch mixing calls, notifications and errors', async () => {
    const r = await send([
      { jsonrpc: '2.0', id: 1, method: 'test.add', params: { a: 1, b: 2 } },
      { jsonrpc: '2.0', method: 'test.add', params: { a: 1, b: 2 } },
      { jsonrpc: '2.0', id: 2, method: 'no.such' },
      { jsonrpc: '2.0', method: 'no.such' },
      1,
      { jsonrpc: '2.0', id: 3, method: 'test.add', params: { a: 'bad' } },
    ]);
    expect(Array.isArray(r)).toBe(true);
    expect(r).toHaveLength(4);
    const byId = new Map(r.map((x: any) => [x.id, x]));
    expect(byId.get(1)).toEqual({ jsonrpc: '2.0', id: 1, result: 3 });
    expect((byId.get(2) as any).error.code).toBe(-32601);
    expect((byId.get(3) as any).error.code).toBe(-32602);
    expect((byId.get(null) as any).error.code).toBe(-32600);
  });

  it('gives no reply to a batch of notifications only', async () => {
    expect(await send([{ jsonrpc: '2.0', method: 'test.add', params: { a: 1, b: 1 } }])).toBeUndefined();
  });
});

describe('WebSocket-only methods over HTTP', () => {
  it('events.subscribe over HTTP says it needs a live connection', async () => {
    const { body } = await s.rpc({ jsonrpc: '2.0', id: 1, method: 'events.subscribe', params: { patterns: ['**'] } });
    expect(body.error.code).toBe(-32600);
    expect(body.error.message).toMatch(/WebSocket/);
  });
});

describe('REST per method', () => {
  it('POST /api/rpc/{method} takes params as the body and returns the result', async () => {
    const res = await fetch(`${s.url}/api/rpc/test.add`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ a: 20, b: 22 }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toBe(42);
  });

  it('maps errors to HTTP statuses from the table', async () => {
    const post = (m: string, body = '{}') =>
      fetch(`${s.url}/api/rpc/${m}`, { method: 'POST', headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' }, body });
    let res = await post('no.such');
    expect(res.status).toBe(404);
    res = await post('test.add', '{"a":1}');
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.data.field).toBe('b');
    res = await post('test.conflict');
    expect(res.status).toBe(409);
    res = await post('test.boom');
    expect(res.status).toBe(500);
    expect(JSON.stringify(await res.json())).not.toContain('secret');
  });
});

describe('discovery', () => {
  it('rpc.discover lists every method with JSON Schemas, and the events', async () => {
    const doc = await s.call('rpc.discover');
    expect(doc.openrpc).toMatch(/^1\./);
    const names = doc.methods.map((m: any) => m.name);
    for (const m of s.app.registry.list()) expect(names).toContain(m.name);
    const sub = doc.methods.find((m: any) => m.name === 'events.subscribe');
    expect(sub.params.find((p: any) => p.name === 'patterns')).toMatchObject({ required: true, schema: { type: 'array' } });
    expect(sub.result.schema).toMatchObject({ type: 'string' });
    const topics = doc['x-events'].map((e: any) => e.topic);
    expect(topics).toEqual(expect.arrayContaining(['connection.opened', 'connection.closed']));
  });

  it('GET /api/openapi.json is a valid OpenAPI 3.x document with a path per method', async () => {
    const res = await fetch(`${s.url}/api/openapi.json`, { headers: { authorization: `Bearer ${s.token}` } });
    expect(res.status).toBe(200);
    const doc: any = await res.json();
    expect(doc.openapi).toMatch(/^3\./);
    await SwaggerParser.validate(structuredClone(doc));
    for (const m of s.app.registry.list()) expect(doc.paths[`/api/rpc/${m.name}`]?.post).toBeDefined();
  });

  it('GET /api/docs is a browsable page naming the methods', async () => {
    const res = await fetch(`${s.url}/api/docs?token=${s.token}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toContain('events.subscribe');
    expect(html).toContain('connection.opened');
  });
});

describe('message size', () => {
  let small: TestServer;
  beforeAll(async () => {
    small = await startServer({ maxMessageBytes: 4096 });
  });
  afterAll(async () => {
    await small.close();
  });

  it('refuses an oversized WebSocket message with a clear error and keeps the connection', async () => {
    const c = await connect(small);
    c.send({ jsonrpc: '2.0', id: 1, method: 'events.emit', params: { topic: 'client.x', data: 'x'.repeat(10_000) } });
    const err = await c.waitFor(() => c.notifications.find((n) => n.method === '(response)' && n.params.error));
    expect(err.params.error).toMatchObject({ code: -32005, data: { code: 'MESSAGE_TOO_LARGE', limit: 4096 } });
    // Same connection still works.
    expect(await c.call('events.status')).toHaveProperty('lastSeq');
    await c.close();
  });

  it('closes with 1009 a frame beyond the hard cap, and the server stays up', async () => {
    const c = await connect(small);
    c.send('x'.repeat(2 * 1024 * 1024));
    expect(await c.closed).toBe(1009);
    const again = await connect(small);
    expect(await again.call('events.status')).toHaveProperty('lastSeq');
    await again.close();
  });

  it('answers 413 to an oversized HTTP body', async () => {
    const res = await fetch(`${small.url}/api/rpc`, {
      method: 'POST',
      headers: { authorization: `Bearer ${small.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'events.status', params: { pad: 'x'.repeat(10_000) } }),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as any).error.data.code).toBe('MESSAGE_TOO_LARGE');
    expect((await fetch(`${small.url}/api/health`)).status).toBe(200);
  });
});
