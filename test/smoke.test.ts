import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, startServer, type TestServer } from './helpers/server.js';

describe('smoke', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(async () => {
    await s.close();
  });
  it('calls over ws and receives events', async () => {
    const c = await connect(s, { kind: 'cli', name: 'tester' });
    const id = await c.call('events.subscribe', { patterns: ['client.**'] });
    expect(typeof id).toBe('string');
    await c.call('events.emit', { topic: 'client.hello', data: { x: 1 } });
    const ev = await c.waitFor(() => c.events().find((e) => e.topic === 'client.hello'));
    expect(ev.source).toMatchObject({ kind: 'cli', name: 'tester' });
    expect(ev.subscription).toBe(id);
    await c.close();
  });
});
