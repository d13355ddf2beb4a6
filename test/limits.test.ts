// Limits on hostile input (issue 9): batches, replies, patterns, events, params depth,
// connections and subscriptions — over real sockets, one test body per transport.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineMethod } from '../src/core/rpc/index.js';
import { connect, RpcError, startServer, type TestServer, type WsClient } from './helpers/server.js';

type Transport = 'http' | 'ws';
const TRANSPORTS: Transport[] = ['http', 'ws'];

/** Send one JSON-RPC message (a value, or text as is) and return the parsed reply (undefined when none is due). */
interface Wire {
  send(body: unknown): Promise<any>;
  close(): Promise<void>;
}

async function wire(s: TestServer, t: Transport): Promise<Wire> {
  if (t === 'http') {
    return {
      send: async (body) => (await s.rpc(body)).body,
      close: async () => {},
    };
  }
  const c = await connect(s);
  return {
    send: (body) =>
      new Promise((resolve) => {
        c.ws.once('message', (data) => resolve(JSON.parse(data.toString())));
        c.ws.send(typeof body === 'string' ? body : JSON.stringify(body));
      }),
    close: () => c.close(),
  };
}

const req = (id: number | string, method: string, params: unknown = {}) => ({ jsonrpc: '2.0', id, method, params });

/**
 * JSON text of a value nested `depth` deep (`{"k":{"k":…}}`, or arrays without a key), built as
 * text: JSON.stringify itself overflows the stack on such values.
 */
const deepJson = (depth: number, key?: string) =>
  key === undefined ? '['.repeat(depth) + '1' + ']'.repeat(depth) : `{"${key}":`.repeat(depth) + '1' + '}'.repeat(depth);

/** A request whose params are given as JSON text. */
const rawReq = (id: number, method: string, paramsJson: string) => `{"jsonrpc":"2.0","id":${id},"method":"${method}","params":${paramsJson}}`;

/** Observable test methods: how many ran, how many ran at once. */
const probe = { calls: 0, inFlight: 0, maxInFlight: 0 };

let s: TestServer;

beforeAll(async () => {
  s = await startServer({
    limits: {
      maxBatchLength: 12,
      batchConcurrency: 3,
      maxReplyBytes: 10_000,
      maxEventBytes: 4000,
      maxSubscriptionsPerConnection: 2,
      maxPatternsPerSubscription: 4,
    },
  });
  s.app.registry.register(
    defineMethod({
      name: 'test.slow',
      description: 'Waits a little, counting how many run at once.',
      params: z.strictObject({ ms: z.number().int().default(25) }),
      result: z.number(),
      scope: 'read',
      handler: async ({ ms }) => {
        probe.calls++;
        probe.inFlight++;
        probe.maxInFlight = Math.max(probe.maxInFlight, probe.inFlight);
        await new Promise((r) => setTimeout(r, ms));
        probe.inFlight--;
        return probe.calls;
      },
    }),
    defineMethod({
      name: 'test.blob',
      description: 'A string of n characters, counting calls.',
      params: z.strictObject({ n: z.number().int() }),
      result: z.string(),
      scope: 'read',
      handler: ({ n }) => {
        probe.calls++;
        return 'x'.repeat(n);
      },
    }),
  );
});

afterAll(async () => {
  await s?.close();
});

beforeEach(() => {
  probe.calls = 0;
  probe.inFlight = 0;
  probe.maxInFlight = 0;
});

describe.each(TRANSPORTS)('batches and replies over %s', (t) => {
  it('answers a batch longer than maxBatchLength with one LIMIT_EXCEEDED error (id null) and runs none of it', async () => {
    const w = await wire(s, t);
    const reply = await w.send(Array.from({ length: 13 }, (_, i) => req(i, 'test.blob', { n: 1 })));
    expect(Array.isArray(reply)).toBe(false);
    expect(reply).toMatchObject({ id: null, error: { code: -32008, data: { code: 'LIMIT_EXCEEDED', limit: 'maxBatchLength', max: 12 } } });
    expect(probe.calls).toBe(0);
    // At the cap it runs.
    const ok = await w.send(Array.from({ length: 12 }, (_, i) => req(i, 'test.blob', { n: 1 })));
    expect(ok).toHaveLength(12);
    await w.close();
  });

  it('never runs more than batchConcurrency elements of one batch at once', async () => {
    const w = await wire(s, t);
    const reply = await w.send(Array.from({ length: 10 }, (_, i) => req(i, 'test.slow', { ms: 20 })));
    expect(reply).toHaveLength(10);
    expect(reply.every((r: any) => typeof r.result === 'number')).toBe(true);
    expect(probe.calls).toBe(10);
    expect(probe.maxInFlight).toBe(3);
    await w.close();
  });

  it('caps the bytes of a batch reply: the element that does not fit gets REPLY_TOO_LARGE, later ones are not run', async () => {
    const w = await wire(s, t);
    // 3,000-character results against a 10,000-byte budget, run in order (one at a time after the
    // first three start together): three fit, the fourth does not.
    const batch = Array.from({ length: 8 }, (_, i) => req(i, 'test.blob', { n: 3000 }));
    const reply: any[] = await w.send(batch);
    expect(reply).toHaveLength(8);
    const byId = new Map(reply.map((r) => [r.id, r]));
    const fitted = reply.filter((r) => r.result !== undefined);
    const refused = reply.filter((r) => r.error);
    expect(fitted).toHaveLength(3);
    expect(refused).toHaveLength(5);
    for (const r of refused) expect(r.error).toMatchObject({ code: -32009, data: { code: 'REPLY_TOO_LARGE', limit: 'maxReplyBytes', max: 10_000 } });
    expect(byId.get(7).error.data.code).toBe('REPLY_TOO_LARGE');
    // The budget ran out on the 4th result; the in-flight ones finish, nothing new starts.
    expect(probe.calls).toBeLessThanOrEqual(6);
    expect(probe.calls).toBeLessThan(8);
    // A single reply over the cap gets the error with its own id.
    const one = await w.send(req('big', 'test.blob', { n: 20_000 }));
    expect(one).toMatchObject({ id: 'big', error: { code: -32009, data: { code: 'REPLY_TOO_LARGE', max: 10_000 } } });
    // …and the connection carries on.
    expect(await w.send(req(1, 'test.blob', { n: 5 }))).toMatchObject({ id: 1, result: 'xxxxx' });
    await w.close();
  });

  it('refuses params nested 6,000 deep in workspace.setLayout / setPreferences with -32602 naming the field, and keeps answering', async () => {
    const w = await wire(s, t);
    const layout = await w.send(rawReq(1, 'workspace.setLayout', `{"layout":{"panels":${deepJson(6000, 'p')}},"expectedVersion":0}`));
    expect(layout.error).toMatchObject({ code: -32602, data: { code: 'INVALID_PARAMS', limit: 'maxValueDepth', max: 64 } });
    expect(layout.error.data.field).toMatch(/^layout\.panels\.p\.p/);
    const prefs = await w.send(rawReq(2, 'workspace.setPreferences', `{"values":{"theme":${deepJson(6000)}}}`));
    expect(prefs.error).toMatchObject({ code: -32602, data: { code: 'INVALID_PARAMS', limit: 'maxValueDepth' } });
    expect(prefs.error.data.field).toMatch(/^values\.theme\.0\.0/);
    expect(await w.send(req(3, 'server.info'))).toMatchObject({ id: 3, result: { name: 'icpy' } });
    await w.close();
  });
});

describe('bare results over POST /api/rpc/{method}', () => {
  it('answers 413 REPLY_TOO_LARGE for a result over maxReplyBytes', async () => {
    const res = await fetch(`${s.url}/api/rpc/test.blob`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ n: 20_000 }),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as any).error.data).toMatchObject({ code: 'REPLY_TOO_LARGE', limit: 'maxReplyBytes' });
  });
});

/** A topic of ~125 segments and a pattern the old backtracking matcher needed ~C(125, 7) steps for. */
const LONG_TOPIC = 'client.' + Array.from({ length: 120 }, () => 'a').join('.') + '.c';
const CRAFTED = '**.a.**.a.**.a.**.a.**.a.**.a.**.a.b';

describe.each(TRANSPORTS)('topic patterns over %s', (t) => {
  it('answers a crafted ** pattern at once, and refuses malformed, long or too many patterns with named errors', async () => {
    const w = await wire(s, t);
    const emitted = await w.send(req(1, 'events.emit', { topic: LONG_TOPIC, data: 1 }));
    expect(emitted.result.seq).toBeGreaterThan(0);
    const since = emitted.result.seq - 1;
    const none = await w.send(req(2, 'events.history', { since, patterns: [CRAFTED] }));
    expect(none.result.events).toEqual([]);
    const some = await w.send(req(3, 'events.history', { since, patterns: ['**.a.**.a.**.c'] }));
    expect(some.result.events.map((e: any) => e.topic)).toEqual([LONG_TOPIC]);

    const long = await w.send(req(4, 'events.history', { since, patterns: ['a', 'x'.repeat(300)] }));
    expect(long.error).toMatchObject({ code: -32602, data: { field: 'patterns.1', limit: 'maxPatternLength' } });
    const segments = await w.send(req(5, 'events.history', { since, patterns: [Array.from({ length: 17 }, () => '**').join('.')] }));
    expect(segments.error).toMatchObject({ code: -32602, data: { field: 'patterns.0', limit: 'maxPatternSegments', max: 16 } });
    const bad = await w.send(req(6, 'events.history', { since, patterns: ['a', 'b', 'c*'] }));
    expect(bad.error).toMatchObject({ code: -32602, data: { field: 'patterns.2' } });
    const many = await w.send(req(7, 'events.history', { since, patterns: ['a', 'b', 'c', 'd', 'e'] }));
    expect(many.error).toMatchObject({ code: -32008, data: { code: 'LIMIT_EXCEEDED', limit: 'maxPatternsPerSubscription', max: 4 } });
    const badLimit = await w.send(req(8, 'events.history', { since, limit: 0 }));
    expect(badLimit.error).toMatchObject({ code: -32602, data: { field: 'limit' } });
    await w.close();
  });
});

describe('topic patterns on subscriptions', () => {
  it('events.subscribe applies the pattern limits and a crafted pattern does not stall publishing', async () => {
    const c = await connect(s);
    const err = (p: Promise<unknown>) => p.then(() => undefined, (e: RpcError) => e);
    expect(await err(c.call('events.subscribe', { patterns: ['ok', 'f*'] }))).toMatchObject({ code: -32602, data: { field: 'patterns.1' } });
    expect(await err(c.call('events.subscribe', { patterns: ['a', 'b', 'c', 'd', 'e'] }))).toMatchObject({
      code: -32008,
      data: { limit: 'maxPatternsPerSubscription' },
    });
    await c.call('events.subscribe', { patterns: [CRAFTED, 'client.done'] });
    await s.call('events.emit', { topic: LONG_TOPIC, data: 2 });
    await s.call('events.emit', { topic: 'client.done', data: 3 });
    await c.waitFor(() => c.events().some((e) => e.topic === 'client.done'));
    expect(c.events().map((e) => e.topic)).toEqual(['client.done']);
    await c.close();
  });

  it('SSE ?patterns= gets the same limits (400 / 429) and serves a crafted pattern', async () => {
    const sse = (q: string, signal?: AbortSignal): Promise<Response> => fetch(`${s.url}/api/events?${q}`, { headers: { authorization: `Bearer ${s.token}` }, signal });
    const long = await sse(`patterns=${'x'.repeat(300)}`);
    expect(long.status).toBe(400);
    expect(((await long.json()) as any).error.data).toMatchObject({ code: 'INVALID_PARAMS', field: 'patterns.0', limit: 'maxPatternLength' });
    const many = await sse('patterns=a,b,c,d,e');
    expect(many.status).toBe(429);
    expect(((await many.json()) as any).error.data).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'maxPatternsPerSubscription' });
    const repeated = await sse('patterns=a&patterns=b.c*');
    expect(repeated.status).toBe(400);
    expect(((await repeated.json()) as any).error.data).toMatchObject({ field: 'patterns.1' });

    const ac = new AbortController();
    const ok = await sse(`patterns=${encodeURIComponent(CRAFTED)},client.sse`, ac.signal);
    expect(ok.status).toBe(200);
    const reader = ok.body!.getReader();
    await s.call('events.emit', { topic: LONG_TOPIC, data: 4 });
    await s.call('events.emit', { topic: 'client.sse', data: 5 });
    let text = '';
    while (!text.includes('client.sse')) text += new TextDecoder().decode((await reader.read()).value);
    expect(text).not.toContain(LONG_TOPIC);
    ac.abort();
    await reader.cancel().catch(() => {});
  });
});

describe.each(TRANSPORTS)('events that cannot be encoded, over %s', (t) => {
  it('refuses a 100,000-deep or oversized event to its sender; it gets no seq, history and subscribers are unaffected', async () => {
    const watcher = await connect(s);
    await watcher.call('events.subscribe', { patterns: ['client.deep.**'] });
    const w = await wire(s, t);
    const first = await w.send(req(1, 'events.emit', { topic: 'client.deep.ok', data: { n: 1 } }));
    const seq = first.result.seq;

    const deep = await w.send(rawReq(2, 'events.emit', `{"topic":"client.deep.bad","data":${deepJson(100_000)}}`));
    expect(deep.error).toMatchObject({ code: -32602, data: { code: 'INVALID_PARAMS', limit: 'maxValueDepth' } });
    expect(deep.error.data.field).toMatch(/^data(\.|$)/);
    const big = await w.send(req(3, 'events.emit', { topic: 'client.deep.big', data: 'x'.repeat(5000) }));
    expect(big.error).toMatchObject({ code: -32008, data: { code: 'LIMIT_EXCEEDED', limit: 'maxEventBytes', max: 4000 } });

    const next = await w.send(req(4, 'events.emit', { topic: 'client.deep.ok', data: { n: 2 } }));
    expect(next.result.seq).toBe(seq + 1);
    const hist = await w.send(req(5, 'events.history', { since: seq - 1, patterns: ['client.deep.**'] }));
    expect(hist.result.events.map((e: any) => [e.seq, e.data.n])).toEqual([
      [seq, 1],
      [seq + 1, 2],
    ]);
    await watcher.waitFor(() => watcher.events().length === 2);
    expect(watcher.events().map((e) => e.seq)).toEqual([seq, seq + 1]);
    await w.close();
    await watcher.close();
  });
});

describe('subscriptions per connection', () => {
  it('refuses the subscription past maxSubscriptionsPerConnection with LIMIT_EXCEEDED, and frees a slot on unsubscribe', async () => {
    const c = await connect(s);
    const a = await c.call('events.subscribe', { patterns: ['client.x'] });
    await c.call('events.subscribe', { patterns: ['client.y'] });
    const err: RpcError = await c.call('events.subscribe', { patterns: ['client.z'] }).catch((e) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect(err).toMatchObject({ code: -32008, data: { code: 'LIMIT_EXCEEDED', limit: 'maxSubscriptionsPerConnection', max: 2 } });
    await c.call('events.unsubscribe', { subscription: a });
    await expect(c.call('events.subscribe', { patterns: ['client.z'] })).resolves.toMatch(/^s/);
    // Another connection has its own allowance.
    const d = await connect(s);
    await expect(d.call('events.subscribe', { patterns: ['client.x'] })).resolves.toMatch(/^s/);
    await c.close();
    await d.close();
  });
});

describe('connections', () => {
  let small: TestServer;
  beforeAll(async () => {
    small = await startServer({ limits: { maxConnections: 2 } });
  });
  afterAll(async () => {
    await small?.close();
  });

  it('refuses a WebSocket upgrade (HTTP 429) and an SSE stream (429 LIMIT_EXCEEDED) over maxConnections', async () => {
    const a = await connect(small);
    const ac = new AbortController();
    const sse = await fetch(`${small.url}/api/events?patterns=client.x`, { headers: { authorization: `Bearer ${small.token}` }, signal: ac.signal });
    expect(sse.status).toBe(200);
    // Two open (one WebSocket, one SSE): a third of either kind is refused.
    const refused = await connect(small).catch((e) => e);
    expect(refused.status).toBe(429);
    const sse2 = await fetch(`${small.url}/api/events`, { headers: { authorization: `Bearer ${small.token}` } });
    expect(sse2.status).toBe(429);
    expect(((await sse2.json()) as any).error).toMatchObject({ code: -32008, data: { code: 'LIMIT_EXCEEDED', limit: 'maxConnections', max: 2 } });
    // HTTP JSON-RPC is not a connection: it still answers.
    expect(await small.call('server.info')).toMatchObject({ name: 'icpy' });
    // Closing one frees a slot.
    await a.close();
    let b: WsClient | undefined;
    for (let i = 0; i < 50 && !b; i++) {
      b = await connect(small).catch(() => undefined);
      if (!b) await new Promise((r) => setTimeout(r, 20));
    }
    expect(b).toBeDefined();
    await b!.close();
    ac.abort();
    await sse.body?.cancel().catch(() => {});
  });
});
