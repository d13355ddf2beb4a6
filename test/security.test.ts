import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/app/logger.js';
import { connect, startServer, type TestServer } from './helpers/server.js';

/** Raw HTTP GET with full control of headers (fetch forbids setting Host). */
function rawGet(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Status of a GET, reading the body so the client socket is released. */
async function statusOf(url: string): Promise<number> {
  const res = await fetch(url);
  await res.arrayBuffer();
  return res.status;
}

describe('auth and origin/host guards', () => {
  let s: TestServer;
  const lines: string[] = [];
  beforeAll(async () => {
    s = await startServer(
      { allowedOrigins: ['https://ide.example.com'] },
      { logger: createLogger('debug', '', (l) => void lines.push(l)) },
    );
  });
  afterAll(async () => {
    await s.close();
  });

  it('serves /api/health without a token', async () => {
    const res = await fetch(`${s.url}/api/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok' });
  });

  it('answers 401 on HTTP without or with a wrong token, and accepts Bearer and ?token=', async () => {
    expect((await s.rpc({ jsonrpc: '2.0', id: 1, method: 'server.info' }, { token: null })).status).toBe(401);
    const wrong = await s.rpc({ jsonrpc: '2.0', id: 1, method: 'server.info' }, { token: 'nope' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.data.code).toBe('UNAUTHORIZED');
    expect(await statusOf(`${s.url}/api/openapi.json`)).toBe(401);
    expect(await statusOf(`${s.url}/api/openapi.json?token=${s.token}`)).toBe(200);
    expect((await s.rpc({ jsonrpc: '2.0', id: 1, method: 'server.info' })).status).toBe(200);
  });

  it('closes the WebSocket with 4401 without or with a wrong token', async () => {
    for (const token of [null, 'wrong', '']) {
      const c = await connect(s, { token });
      expect(await c.closed).toBe(4401);
    }
  });

  it('accepts the token as a Bearer header on the WebSocket too', async () => {
    const c = await connect(s, { token: null, headers: { authorization: `Bearer ${s.token}` } });
    expect(await c.call('connections.whoami')).toMatchObject({ transport: 'ws' });
    await c.close();
  });

  it('refuses SSE without a token', async () => {
    expect(await statusOf(`${s.url}/api/events?patterns=**`)).toBe(401);
  });

  it('refuses a WebSocket upgrade from a foreign Origin with 403, even with a valid token', async () => {
    await expect(connect(s, { headers: { origin: 'https://evil.example' } })).rejects.toMatchObject({ status: 403 });
    await expect(connect(s, { headers: { origin: 'null' } })).rejects.toMatchObject({ status: 403 });
  });

  it('accepts same-origin and explicitly allowed origins', async () => {
    const same = await connect(s, { headers: { origin: s.url } });
    await same.call('events.status');
    await same.close();
    const allowed = await connect(s, { headers: { origin: 'https://ide.example.com' } });
    await allowed.call('events.status');
    await allowed.close();
  });

  it('refuses a foreign Host header on loopback (DNS rebinding), HTTP and WebSocket', async () => {
    const port = new URL(s.url).port;
    const res = await rawGet(`${s.url}/api/rpc`, { host: `evil.example:${port}`, authorization: `Bearer ${s.token}` });
    expect(res.status).toBe(403);
    await expect(connect(s, { headers: { host: `evil.example:${port}` } })).rejects.toMatchObject({ status: 403 });
    const ok = await rawGet(`${s.url}/api/health`, { host: `localhost:${port}` });
    expect(ok.status).toBe(200);
  });

  it('never writes the token to the log', async () => {
    await statusOf(`${s.url}/api/openapi.json?token=${s.token}`);
    await statusOf(`${s.url}/api/nothing-here?token=${s.token}`);
    const c = await connect(s, { name: 'logger-check' });
    await c.close();
    await connect(s, { token: s.token + 'x' }).then((c2) => c2.closed);
    expect(lines.length).toBeGreaterThan(2);
    expect(lines.some((l) => l.includes('token=[redacted]'))).toBe(true);
    for (const l of lines) expect(l).not.toContain(s.token);
  });
});
