import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, startServer, type TestServer } from './helpers/server.js';

/** Raw HTTP GET with full control of headers (fetch forbids setting Host). */
function rawGet(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}

/** DNS rebinding: names that merely start like loopback (public DNS names an attacker controls). */
const REBINDING_HOSTS = ['127.0.0.1.nip.io', '127.attacker.example', 'app.localhost', 'localhost.evil.example'];

describe('Host and Origin guards on a loopback server', () => {
  let s: TestServer;
  let port: string;
  beforeAll(async () => {
    s = await startServer({ allowedHosts: ['box.lan'] });
    port = new URL(s.url).port;
  });
  afterAll(() => s.close());

  it('refuses Host names that only start like a loopback name, over HTTP', async () => {
    for (const name of REBINDING_HOSTS) {
      expect(await rawGet(`${s.url}/api/health`, { host: `${name}:${port}` }), name).toBe(403);
      expect(await rawGet(`${s.url}/api/openapi.json`, { host: `${name}:${port}`, authorization: `Bearer ${s.token}` }), name).toBe(403);
    }
  });

  it('refuses them on the WebSocket upgrade, as Host and as Origin', async () => {
    for (const name of REBINDING_HOSTS) {
      await expect(connect(s, { headers: { host: `${name}:${port}` } }), name).rejects.toMatchObject({ status: 403 });
      await expect(connect(s, { headers: { origin: `http://${name}:${port}` } }), name).rejects.toMatchObject({ status: 403 });
      // A page on the rebinding name sends its own name as both Host and Origin.
      await expect(connect(s, { headers: { host: `${name}:${port}`, origin: `http://${name}:${port}` } }), name).rejects.toMatchObject({ status: 403 });
    }
  });

  it('accepts 127.0.0.0/8 literals, [::1], localhost and the configured names', async () => {
    for (const host of [`127.0.0.1:${port}`, `127.8.9.10:${port}`, `localhost:${port}`, `[::1]:${port}`, `box.lan:${port}`, 'box.lan']) {
      expect(await rawGet(`${s.url}/api/health`, { host }), host).toBe(200);
    }
    const c = await connect(s, { headers: { host: `box.lan:${port}`, origin: `http://box.lan:${port}` } });
    await c.call('events.status');
    await c.close();
    const l = await connect(s, { headers: { host: `localhost:${port}`, origin: `http://localhost:${port}` } });
    await l.call('events.status');
    await l.close();
  });
});
