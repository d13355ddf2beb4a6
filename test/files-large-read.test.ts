import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchBrowser } from './helpers/browser.js';
import { connect, startServer, type TestServer, type WsClient } from './helpers/server.js';

// Page functions run in the browser; the Node typecheck has no DOM lib.
declare const WebSocket: any;

/**
 * Large reads are decoded and their replies encoded in slices (core/turns.ts); the text must be
 * exactly what a whole decode gives, whatever falls on a slice edge, over both transports.
 */
describe('large files.read replies are exact', () => {
  let s: TestServer;
  let c: WsClient;
  // 3 MiB of text where 2-, 3- and 4-byte characters land on every slice edge, and 3 MiB of binary.
  const text = ('é日😀abc\n"\\\u0001\t\u001f\u2028'.repeat(150_000) + 'end').slice(0, 1_500_000);
  const binary = randomBytes(3 * 1024 * 1024 + 1);
  beforeAll(async () => {
    s = await startServer();
    writeFileSync(join(s.root, 'big.txt'), text);
    writeFileSync(join(s.root, 'big.bin'), binary);
    c = await connect(s);
  });
  afterAll(async () => {
    await c.close();
    await s.close();
  });

  for (const transport of ['http', 'ws'] as const) {
    it(`${transport}: multi-byte text and binary come back byte for byte, as a batch too`, async () => {
      const call = (method: string, params: unknown) => (transport === 'http' ? s.call(method, params) : c.call(method, params));
      const t = await call('files.read', { path: 'big.txt' });
      expect(t.encoding).toBe('utf8');
      expect(t.content).toBe(text);
      const b = await call('files.read', { path: 'big.bin' });
      expect(b.encoding).toBe('base64');
      expect(Buffer.from(b.content, 'base64').equals(binary)).toBe(true);
      // A range starting inside a character is still text (cut characters at the edges allowed).
      const r = await call('files.read', { path: 'big.txt', offset: 1, length: 2_000_000 });
      expect(r.encoding).toBe('utf8');
      const batch = [
        { jsonrpc: '2.0', id: 1001, method: 'files.read', params: { path: 'big.txt' } },
        { jsonrpc: '2.0', id: 1002, method: 'files.read', params: { path: 'big.bin' } },
      ];
      let replies: unknown[];
      if (transport === 'http') replies = (await s.rpc(batch)).body;
      else {
        c.send(batch);
        const mine = () => c.notifications.filter((n) => n.method === '(response)' && (n.params.id === 1001 || n.params.id === 1002));
        await c.waitFor(() => mine().length === 2, 20_000, 'the batch replies');
        replies = mine().map((n) => n.params);
        c.notifications.length = 0;
      }
      const byId = new Map((replies as { id: number; result: { content: string } }[]).map((x) => [x.id, x.result]));
      expect(byId.get(1001)!.content).toBe(text);
      expect(Buffer.from(byId.get(1002)!.content, 'base64').equals(binary)).toBe(true);
    }, 30_000);
  }

  it('http: a large reply is the very text JSON.stringify gives, with its Content-Length', async () => {
    // Replies of this size are escaped from the file's bytes and sent in pieces (core/rpc/large-json.ts).
    for (const body of [{ jsonrpc: '2.0', id: 1, method: 'files.read', params: { path: 'big.txt' } }, [1, 2].map((id) => ({ jsonrpc: '2.0', id, method: 'files.read', params: { path: id === 1 ? 'big.txt' : 'big.bin' } }))]) {
      const res = await fetch(`${s.url}/api/rpc`, { method: 'POST', headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const raw = Buffer.from(await res.arrayBuffer());
      expect(res.headers.get('content-length')).toBe(String(raw.length));
      const text8 = raw.toString('utf8');
      expect(Buffer.from(text8, 'utf8').equals(raw)).toBe(true); // valid UTF-8
      expect(text8).toBe(JSON.stringify(JSON.parse(text8)));
    }
    // The bare-result route sends its pieces the same way.
    const res = await fetch(`${s.url}/api/rpc/files.read`, { method: 'POST', headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ path: 'big.txt' }) });
    const raw = Buffer.from(await res.arrayBuffer());
    expect(res.headers.get('content-length')).toBe(String(raw.length));
    expect(JSON.parse(raw.toString('utf8')).content).toBe(text);
  }, 30_000);

  it.skipIf(!hasChromium())('chromium: a large reply sent in fragments arrives as one text message, the same text', async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(`${s.url}/?token=${s.token}`); // same origin as the socket
      const wsUrl = `${s.wsUrl}?token=${encodeURIComponent(s.token)}`;
      const got = await page.evaluate(async (url: string) => {
        const ws = new WebSocket(url);
        await new Promise((r, j) => ((ws.onopen = r), (ws.onerror = j)));
        const reply = await new Promise<string>((r) => {
          ws.onmessage = (e: { data: unknown }) => {
            if (typeof e.data === 'string' && e.data.includes('"id":77')) r(e.data);
          };
          ws.send(JSON.stringify({ jsonrpc: '2.0', id: 77, method: 'files.read', params: { path: 'big.txt' } }));
        });
        ws.close();
        return (JSON.parse(reply) as { result: { content: string } }).result.content;
      }, wsUrl);
      expect(got.length).toBe(text.length);
      expect(got === text).toBe(true);
    } finally {
      await browser.close();
    }
  }, 30_000);
});
