import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, RpcError, startServer, type TestServer, type WsClient } from './helpers/server.js';

const open: WsClient[] = [];
async function client(s: TestServer, opts: Parameters<typeof connect>[1] = {}) {
  const c = await connect(s, opts);
  open.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

describe('events over WebSocket', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(async () => {
    await s.close();
  });

  it('delivers with * and ** wildcards and carries topic, seq, time, source, data', async () => {
    const c = await client(s, { kind: 'agent', name: 'Claude' });
    const one = await c.call('events.subscribe', { patterns: ['client.*.saved'] });
    const any = await c.call('events.subscribe', { patterns: ['client.**'] });
    await c.call('events.emit', { topic: 'client.doc.saved', data: { n: 1 } });
    await c.call('events.emit', { topic: 'client.doc.deep.saved', data: { n: 2 } });
    await c.waitFor(() => c.events().length >= 3);
    const evs = c.events();
    expect(evs.filter((e) => e.subscription === one).map((e) => e.topic)).toEqual(['client.doc.saved']);
    expect(evs.filter((e) => e.subscription === any).map((e) => e.topic)).toEqual(['client.doc.saved', 'client.doc.deep.saved']);
    const e = evs[0];
    expect(e).toMatchObject({ topic: 'client.doc.saved', data: { n: 1 }, source: { kind: 'agent', name: 'Claude' } });
    expect(typeof e.seq).toBe('number');
    expect(typeof e.time).toBe('number');
    expect(e.source.connectionId).toMatch(/^c-/);
  });

  it('unsubscribes', async () => {
    const c = await client(s);
    const id = await c.call('events.subscribe', { patterns: ['client.u'] });
    expect(await c.call('events.unsubscribe', { subscription: id })).toEqual({ unsubscribed: true });
    await expect(c.call('events.unsubscribe', { subscription: id })).rejects.toMatchObject({ data: { code: 'SUBSCRIPTION_NOT_FOUND' } });
    await c.call('events.emit', { topic: 'client.u' });
    await c.call('events.status');
    expect(c.events()).toEqual([]);
  });

  it('rejects bad patterns with -32602 naming the field', async () => {
    const c = await client(s);
    await expect(c.call('events.subscribe', { patterns: 'fs.**' })).rejects.toMatchObject({ code: -32602, data: { field: 'patterns' } });
    await expect(c.call('events.subscribe', { patterns: ['ok', 'fs.f*'] })).rejects.toMatchObject({ code: -32602, data: { field: 'patterns.1' } });
    await expect(c.call('events.subscribe', { patterns: ['a'], since: -1 })).rejects.toMatchObject({ code: -32602, data: { field: 'since' } });
  });

  it('replays exactly the 500 events a client missed while disconnected, in order, then live ones, no duplicates', async () => {
    const a = await client(s);
    await a.call('events.subscribe', { patterns: ['client.replay.**'] });
    const publisher = await client(s);
    await publisher.call('events.emit', { topic: 'client.replay.tick', data: { i: -1 } });
    await a.waitFor(() => a.events().length === 1);
    const lastSeen = a.events()[0].seq;
    await a.close();

    // 500 events to the topic plus unrelated noise, while the client is away.
    const batch = [];
    for (let i = 0; i < 500; i++) {
      batch.push({ jsonrpc: '2.0', id: i, method: 'events.emit', params: { topic: 'client.replay.tick', data: { i } } });
      if (i % 10 === 0) batch.push({ jsonrpc: '2.0', id: `n${i}`, method: 'events.emit', params: { topic: 'client.noise', data: {} } });
    }
    // Batches are capped at maxBatchLength (100 by default).
    for (let i = 0; i < batch.length; i += 100) {
      const replies = await s.rpc(batch.slice(i, i + 100));
      expect(replies.body.every((r: any) => r.result)).toBe(true);
    }

    const b = await client(s);
    // Publish live events concurrently with the resubscribe to probe the seam.
    const live = (async () => {
      for (let i = 500; i < 520; i++) await publisher.call('events.emit', { topic: 'client.replay.tick', data: { i } });
    })();
    await b.call('events.subscribe', { patterns: ['client.replay.**'], since: lastSeen });
    await live;
    await b.waitFor(() => b.events().length >= 520, 10_000, '520 events');
    const got = b.events();
    expect(got.map((e) => e.data.i)).toEqual(Array.from({ length: 520 }, (_, i) => i));
    const seqs = got.map((e) => e.seq);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]);
    expect(new Set(seqs).size).toBe(seqs.length);
  });
});

describe('history gap and lagging subscribers', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ historyEvents: 100, subscriptionQueue: 50, highWaterBytes: 8 * 1024 });
  });
  afterAll(async () => {
    await s.close();
  });

  it('says when since is older than the kept history, with the oldest seq kept', async () => {
    const batch = Array.from({ length: 300 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'events.emit', params: { topic: 'client.gap', data: i } }));
    for (let i = 0; i < batch.length; i += 100) await s.rpc(batch.slice(i, i + 100));
    const c = await client(s);
    const status = await c.call('events.status');
    const err: RpcError = await c.call('events.subscribe', { patterns: ['**'], since: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect(err.code).toBe(-32010);
    expect(err.data).toMatchObject({ code: 'EVENTS_GAP', oldestSeq: status.oldestSeq, lastSeq: status.lastSeq });
    // Resync: subscribing from oldestSeq - 1 works and replays everything kept.
    await c.call('events.subscribe', { patterns: ['client.gap'], since: err.data.oldestSeq - 1 });
    await c.waitFor(() => c.events().length >= 1);
  });

  it('drops a subscriber that stops reading, tells it so, and lets it resume from where it was', async () => {
    const slow = await client(s);
    const base = (await s.call('events.status')).subscriptions;
    const sub = await slow.call('events.subscribe', { patterns: ['client.flood'] });
    // Stop reading from the socket: the server's send buffer fills, then the queue.
    (slow.ws as any)._socket.pause();
    // Enough to fill the kernel's socket buffers (several MB on loopback) and then the queue.
    const pad = 'x'.repeat(8000);
    for (let k = 0; k < 40; k++) {
      const batch = Array.from({ length: 100 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'events.emit', params: { topic: 'client.flood', data: pad } }));
      await s.rpc(batch);
    }
    // Server side: the subscription is gone and nothing is queued for it.
    const st = await s.call('events.status');
    (slow.ws as any)._socket.resume();
    const lag = await slow.waitFor(() => slow.notifications.find((n) => n.method === 'events.lagged'), 10_000, 'events.lagged');
    expect(lag.params.subscription).toBe(sub);
    expect(lag.params.lastDeliveredSeq).toBeGreaterThan(0);
    const delivered = slow.events();
    expect(delivered.length).toBeLessThan(4000);
    expect(delivered.at(-1).seq).toBe(lag.params.lastDeliveredSeq);
    expect(st.subscriptions).toBe(base);
    // Resume from the last delivered seq: the rest (still in history) arrives.
    await slow.call('events.subscribe', { patterns: ['client.flood'], since: st.oldestSeq - 1 });
    await slow.waitFor(() => slow.events().at(-1)?.seq === st.lastSeq, 10_000, 'catch-up');
  });
});

describe('connections', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ heartbeatMs: 150 });
  });
  afterAll(async () => {
    await s.close();
  });

  it('lists connections with kind and name and publishes opened/closed', async () => {
    const watcher = await client(s, { kind: 'browser', name: 'Ada' });
    await watcher.call('events.subscribe', { patterns: ['connection.*'] });
    const agent = await client(s, { kind: 'agent', name: 'Claude' });
    const me = await agent.call('connections.whoami');
    const list = await watcher.call('connections.list');
    expect(list).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'browser', name: 'Ada', subscriptions: 1 }),
        expect.objectContaining({ id: me.id, kind: 'agent', name: 'Claude', transport: 'ws' }),
      ]),
    );
    await agent.close();
    const closed = await watcher.waitFor(() => watcher.events().find((e) => e.topic === 'connection.closed' && e.data.id === me.id));
    expect(closed.source).toMatchObject({ connectionId: me.id, kind: 'agent', name: 'Claude' });
    expect(watcher.events().some((e) => e.topic === 'connection.opened' && e.data.id === me.id)).toBe(true);
    expect((await watcher.call('connections.list')).some((c: any) => c.id === me.id)).toBe(false);
  });

  it('drops a peer that stops answering pings', async () => {
    const watcher = await client(s);
    await watcher.call('events.subscribe', { patterns: ['connection.closed'] });
    const dead = await client(s, { name: 'zombie', wsOptions: { autoPong: false } });
    const { id } = await dead.call('connections.whoami');
    const ev = await watcher.waitFor(() => watcher.events().find((e) => e.data.id === id), 5000, 'heartbeat drop');
    expect(ev.data.name).toBe('zombie');
    await dead.closed;
  });

  it("disposes a connection's subscriptions when it goes", async () => {
    const c = await client(s);
    await c.call('events.subscribe', { patterns: ['**'] });
    await c.call('events.subscribe', { patterns: ['client.*'] });
    const before = (await s.call('events.status')).subscriptions;
    await c.close();
    await new Promise((r) => setTimeout(r, 50));
    expect((await s.call('events.status')).subscriptions).toBe(before - 2);
  });
});

describe('Server-Sent Events', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ historyEvents: 50 });
  });
  afterAll(async () => {
    await s.close();
  });

  async function readSse(res: Response, count: number): Promise<{ id: string; data: any }[]> {
    const reader = res.body!.getReader();
    const out: { id: string; data: any }[] = [];
    let buf = '';
    const dec = new TextDecoder();
    while (out.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const id = /^id: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (id && data) out.push({ id, data: JSON.parse(data) });
      }
    }
    await reader.cancel();
    return out;
  }

  it('streams replay then live events, resumes with Last-Event-ID, and answers 410 on a gap', async () => {
    const first = (await s.call('events.emit', { topic: 'client.sse', data: 0 })).seq;
    await s.call('events.emit', { topic: 'client.sse', data: 1 });
    const ac = new AbortController();
    const res = await fetch(`${s.url}/api/events?patterns=client.sse&since=${first - 1}`, {
      headers: { authorization: `Bearer ${s.token}` },
      signal: ac.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reading = readSse(res, 3);
    await s.call('events.emit', { topic: 'client.sse', data: 2 });
    const evs = await reading;
    ac.abort();
    expect(evs.map((e) => e.data.data)).toEqual([0, 1, 2]);
    expect(evs.map((e) => Number(e.id))).toEqual(evs.map((e) => e.data.seq));

    // Resume after the second event via Last-Event-ID (what EventSource sends on reconnect).
    await s.call('events.emit', { topic: 'client.sse', data: 3 });
    const res2 = await fetch(`${s.url}/api/events?patterns=client.sse&token=${s.token}`, { headers: { 'last-event-id': evs[1]!.id } });
    const evs2 = await readSse(res2, 2);
    expect(evs2.map((e) => e.data.data)).toEqual([2, 3]);

    for (let i = 0; i < 60; i++) await s.call('events.emit', { topic: 'client.other', data: i });
    const gone = await fetch(`${s.url}/api/events?since=1&token=${s.token}`);
    expect(gone.status).toBe(410);
    expect(((await gone.json()) as any).error.data).toMatchObject({ code: 'EVENTS_GAP', oldestSeq: expect.any(Number) });
  });
});
