import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/app/logger.js';
import { connect, startServer, type TestServer } from './helpers/server.js';
import { until } from './helpers/until.js';

/** The curl lines of README's first-requests block, continuation lines joined. */
function readmeCurlLines(): string[] {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const at = readme.indexOf('`icpy serve` prints one line with the URL');
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at))![1]!;
  return block
    .replace(/\\\n\s*/g, '')
    .split('\n')
    .filter((l) => l.startsWith('curl '));
}

function sh(line: string, env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('sh', ['-c', line], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.resume(); // curl's progress meter
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

/** README's live-documents command line. */
function readmeYjsLine(): string {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const at = readme.indexOf('### Live documents');
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at))![1]!;
  return block.trim();
}

describe("README's live-documents example", () => {
  it('runs verbatim (port substituted): joins README.md with y-websocket, appends a line that reaches disk', async () => {
    const s = await startServer({ token: 'readme-token-abc123', docs: { saveDebounceMs: 20 } });
    try {
      writeFileSync(join(s.root, 'README.md'), '# hello\n');
      const line = readmeYjsLine();
      expect(line).toContain('node examples/yjs-edit.mjs');
      const { code, out } = await sh(line.replaceAll('127.0.0.1:8000', `127.0.0.1:${new URL(s.url).port}`), { TOKEN: s.token });
      expect(code, out).toBe(0);
      expect(out).toContain('README.md: 8 characters');
      await until(() => /edited live by examples\/yjs-edit\.mjs/.test(readFileSync(join(s.root, 'README.md'), 'utf8')), 'saved to disk');
      expect(readFileSync(join(s.root, 'README.md'), 'utf8').startsWith('# hello\n')).toBe(true);
    } finally {
      await s.close();
    }
  });
});

describe("a newcomer's first requests", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ token: 'readme-token-abc123' });
  });
  afterAll(async () => {
    await s.close();
  });

  it("runs README's curl lines verbatim (only the port and $TOKEN substituted)", async () => {
    const lines = readmeCurlLines();
    expect(lines.length).toBeGreaterThanOrEqual(3);
    const port = new URL(s.url).port;
    for (const line of lines) {
      const { code, out } = await sh(line.replaceAll('127.0.0.1:8000', `127.0.0.1:${port}`), { TOKEN: s.token });
      expect(code, line).toBe(0);
      const body = JSON.parse(out);
      expect(body.error, `${line}\n${out}`).toBeUndefined();
    }
  });

  it('POST /api/rpc/{method} with no body and no content type calls the method', async () => {
    const res = await fetch(`${s.url}/api/rpc/server.info`, { method: 'POST', headers: { authorization: `Bearer ${s.token}` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).name).toBe('icpy');
  });

  it('a form content type (curl -d) is read as JSON with a Bearer token', async () => {
    const res = await fetch(`${s.url}/api/rpc`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: '{"jsonrpc":"2.0","id":1,"method":"server.info"}',
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).result.name).toBe('icpy');
  });

  it('every error on the RPC routes is a JSON-RPC envelope', async () => {
    const cases: [string, RequestInit, number, string][] = [
      ['/api/rpc', { method: 'POST', body: '{}' }, 401, 'UNAUTHORIZED'],
      ['/api/rpc', { method: 'POST', headers: { authorization: `Bearer ${s.token}` }, body: 'not json' }, 200, 'PARSE_ERROR'],
      ['/api/rpc/nope.nothing', { method: 'POST', headers: { authorization: `Bearer ${s.token}` } }, 404, 'METHOD_NOT_FOUND'],
      ['/api/rpc/server.info', { method: 'POST', headers: { authorization: `Bearer ${s.token}` }, body: '{' }, 400, 'PARSE_ERROR'],
      ['/api/rpc', { method: 'GET', headers: { authorization: `Bearer ${s.token}` } }, 404, 'NOT_FOUND'],
    ];
    for (const [path, init, status, code] of cases) {
      const res = await fetch(s.url + path, init);
      expect(res.status, path).toBe(status);
      const body = (await res.json()) as any;
      expect(body, path).toMatchObject({ jsonrpc: '2.0', id: null, error: { data: { code } } });
      expect(typeof body.error.code).toBe('number');
    }
  });

  it('GET / (the printed URL) trades the token for a session cookie and lands on the workspace; the docs pages work with the cookie', async () => {
    const res = await fetch(`${s.url}/?token=${s.token}`, { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/');
    const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
    expect(cookie).toMatch(new RegExp(`^icpy_session_${new URL(s.url).port}=`));
    expect(cookie).not.toContain(s.token);
    // The app page itself (or, before `npm run build`, a page saying to build it) is public.
    const page = await fetch(`${s.url}/`);
    expect([200, 503]).toContain(page.status);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    await page.arrayBuffer();
    // The reference pages, opened with the cookie alone: their links work with it too.
    const visited = new Set<string>();
    const queue = ['/api/docs'];
    while (queue.length) {
      const href = queue.shift()!;
      if (visited.has(href) || href === '/') continue;
      visited.add(href);
      const r = await fetch(new URL(href, s.url + '/'), { headers: { cookie } });
      expect(r.status, href).toBe(200);
      const text = await r.text();
      if (href.startsWith('/api/docs')) {
        expect(r.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
        expect(text).not.toMatch(/<script/i);
        for (const m of text.matchAll(/href="([^"#]+)"/g)) queue.push(m[1]!.replaceAll('&#38;', '&'));
      }
    }
    expect(visited.has('/api/openapi.json')).toBe(true);
  });

  it('GET / with a wrong token gives no cookie and leaks nothing', async () => {
    const res = await fetch(`${s.url}/?token=wrong`, { redirect: 'manual' });
    expect([200, 503]).toContain(res.status);
    expect(res.headers.get('set-cookie')).toBeNull();
    const html = await res.text();
    expect(html).not.toContain('wrong');
    expect(html).not.toContain(s.token);
  });
});

describe('the token never reaches the log (real token, debug level, every log path)', () => {
  // A token given with --token may hold characters that JSON or a URL escapes.
  const token = `tok"en\\with/odd+chars-${Math.random().toString(36).slice(2)}`;
  const lines: string[] = [];
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ token }, { logger: createLogger('debug', token, (l) => void lines.push(l)) });
  });
  afterAll(async () => {
    await s.close();
  });

  it('HTTP request logs, WebSocket logs, SSE, and an internal error whose message holds the token', async () => {
    const q = encodeURIComponent(token);
    await (await fetch(`${s.url}/api/openapi.json?token=${q}`)).arrayBuffer();
    await (await fetch(`${s.url}/api/nothing-here?token=${q}`)).arrayBuffer();
    await (await fetch(`${s.url}/?token=${q}`)).arrayBuffer();
    const c = await connect(s, { name: 'logger-check' });
    await c.close();
    await connect(s, { token: token + 'x' }).then((c2) => c2.closed);
    await connect(s, { headers: { origin: 'https://evil.example' } }).catch(() => undefined);
    const ac = new AbortController();
    const sse = await fetch(`${s.url}/api/events?patterns=**&token=${q}`, { signal: ac.signal });
    ac.abort();
    await sse.body?.cancel().catch(() => undefined);
    // A bug whose message holds the token (fault injection into a declared operation).
    const op = s.app.registry.getOperation('files.rest.open')!;
    const real = op.handler;
    op.handler = () => {
      throw new Error(`could not open with token ${token}`);
    };
    await (await fetch(`${s.url}/api/files/x?token=${q}`)).arrayBuffer();
    op.handler = real;
    expect(lines.some((l) => l.includes('"msg":"http"'))).toBe(true);
    expect(lines.some((l) => l.includes('ws: unauthorized'))).toBe(true);
    expect(lines.some((l) => l.includes('could not open with token'))).toBe(true);
    const forms = [token, JSON.stringify(token).slice(1, -1), encodeURIComponent(token)];
    for (const l of lines) for (const f of forms) expect(l).not.toContain(f);
  });
});
