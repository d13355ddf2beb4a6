import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, startServer, type TestServer } from './helpers/server.js';
import { rawUpgrade, rawYjs } from './helpers/yjs.js';

/**
 * The web workspace's server side (issue 14): the printed `?token=` URL becomes an HttpOnly
 * SameSite=Strict session cookie, which authenticates as the owner everywhere but /mcp, under
 * cross-site rules (an allowed Origin on anything that changes state and on every upgrade, JSON
 * on the RPC routes); the app is served from a fixed list of built files with a strict CSP.
 * The app files here are a minimal stand-in for dist/web/ (the shell slice builds the real one).
 */

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * A request sent as given: no Origin, no cookie jar, no URL normalisation (a literal `..` arrives),
 * and a fresh socket (a kept-alive one would be dead after a server restart on the same port).
 */
function raw(s: TestServer, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Raw> {
  const u = new URL(s.url);
  return new Promise((resolve, reject) => {
    const req = request({ agent: false, host: u.hostname, port: Number(u.port), method, path, headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The session cookie the printed URL gives (`name=value`). */
async function login(s: TestServer, token = s.token): Promise<string> {
  const res = await raw(s, 'GET', `/?token=${encodeURIComponent(token)}`);
  expect(res.status).toBe(303);
  const set = res.headers['set-cookie'] as string[];
  return set[0]!.split(';')[0]!;
}

const rpcBody = (method: string, params: unknown) => JSON.stringify({ jsonrpc: '2.0', id: 1, method, params });

function makeWebDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'icpy-web-'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>icpy</title><link rel="stylesheet" href="/assets/app.css"><script type="module" src="/assets/app.js"></script>');
  writeFileSync(join(dir, 'app.js'), 'console.log("icpy web");\n');
  writeFileSync(join(dir, 'app.css'), 'body{margin:0}\n');
  writeFileSync(join(dir, 'app.js.map'), '{"version":3}');
  mkdirSync(join(dir, 'nested'));
  writeFileSync(join(dir, 'nested', 'secret.txt'), 'not served');
  return dir;
}

describe('web session: the printed URL becomes a cookie that works where the token does', () => {
  let s: TestServer;
  let webDir: string;
  let cookie: string;
  let origin: string;
  beforeAll(async () => {
    webDir = makeWebDir();
    s = await startServer({}, { webDir });
    origin = s.url;
    cookie = await login(s);
  });
  afterAll(async () => {
    await s.close();
    rmSync(webDir, { recursive: true, force: true });
  });

  it('GET /?token=T answers 303 to / with an HttpOnly, SameSite=Strict, Path=/ cookie (not Secure on plain HTTP)', async () => {
    const res = await raw(s, 'GET', `/?token=${s.token}`);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/');
    expect(res.headers['cache-control']).toBe('no-store');
    const set = res.headers['set-cookie'] as string[];
    expect(set).toHaveLength(1);
    const parts = set[0]!.split(';').map((p) => p.trim());
    expect(parts[0]).toMatch(new RegExp(`^icpy_session_${new URL(s.url).port}=[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}$`));
    expect(parts.slice(1).sort()).toEqual(['HttpOnly', 'Path=/', 'SameSite=Strict']);
    expect(set[0]).not.toContain(s.token);
    // Each exchange mints a fresh nonce.
    expect(parts[0]).not.toBe(cookie);
  });

  it('a wrong token still gets the page, and no cookie', async () => {
    const res = await raw(s, 'GET', '/?token=wrong');
    expect(res.status).toBe(200);
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.body).toContain('/assets/app.js');
    expect(res.body).not.toContain(s.token);
  });

  it('the cookie authenticates GETs (no Origin needed) and a same-origin JSON POST to /api/rpc that writes a file', async () => {
    expect((await raw(s, 'GET', '/api/openapi.json')).status).toBe(401);
    expect((await raw(s, 'GET', '/api/openapi.json', { cookie })).status).toBe(200);
    const res = await raw(s, 'POST', '/api/rpc', { cookie, origin, 'content-type': 'application/json; charset=utf-8' }, rpcBody('files.write', { path: 'via-cookie.txt', content: 'hello\n' }));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).result).toBeDefined();
    expect(readFileSync(join(s.root, 'via-cookie.txt'), 'utf8')).toBe('hello\n');
    const one = await raw(s, 'POST', '/api/rpc/files.read', { cookie, origin, 'content-type': 'application/json' }, JSON.stringify({ path: 'via-cookie.txt' }));
    expect(one.status).toBe(200);
    expect(JSON.parse(one.body).content).toBe('hello\n');
  });

  it('a cookie POST with a foreign Origin, with no Origin, or with text/plain is refused and changes nothing', async () => {
    writeFileSync(join(s.root, 'target.txt'), 'original\n');
    const body = rpcBody('files.write', { path: 'target.txt', content: 'forged\n' });
    const cases: [Record<string, string>, number, string][] = [
      [{ cookie, origin: 'https://evil.example', 'content-type': 'application/json' }, 403, 'FORBIDDEN'],
      [{ cookie, origin: 'null', 'content-type': 'application/json' }, 403, 'FORBIDDEN'],
      [{ cookie, 'content-type': 'application/json' }, 403, 'FORBIDDEN'],
      [{ cookie, origin, 'content-type': 'text/plain' }, 415, 'INVALID_REQUEST'],
      [{ cookie, origin, 'content-type': 'application/x-www-form-urlencoded' }, 415, 'INVALID_REQUEST'],
      [{ cookie, origin }, 415, 'INVALID_REQUEST'],
    ];
    for (const [headers, status, code] of cases) {
      for (const path of ['/api/rpc', '/api/rpc/files.write']) {
        const res = await raw(s, 'POST', path, headers, path === '/api/rpc' ? body : JSON.stringify({ path: 'target.txt', content: 'forged\n' }));
        expect(res.status, `${path} ${JSON.stringify(headers)}`).toBe(status);
        expect(JSON.parse(res.body)).toMatchObject({ jsonrpc: '2.0', id: null, error: { data: { code } } });
      }
    }
    // REST routes that change state need the Origin too.
    expect((await raw(s, 'PUT', '/api/files/target.txt', { cookie, origin: 'https://evil.example', 'content-type': 'text/plain' }, 'forged\n')).status).toBe(403);
    expect((await raw(s, 'DELETE', '/api/files/target.txt', { cookie })).status).toBe(403);
    expect(readFileSync(join(s.root, 'target.txt'), 'utf8')).toBe('original\n');
  });

  it('Bearer callers keep the old rules (any content type, no Origin); a wrong Bearer is 401 whatever the cookie', async () => {
    const res = await raw(s, 'POST', '/api/rpc', { authorization: `Bearer ${s.token}`, 'content-type': 'text/plain' }, rpcBody('files.write', { path: 'bearer.txt', content: 'b\n' }));
    expect(res.status).toBe(200);
    expect(readFileSync(join(s.root, 'bearer.txt'), 'utf8')).toBe('b\n');
    const wrong = await raw(s, 'POST', '/api/rpc', { cookie, origin, authorization: 'Bearer wrong', 'content-type': 'application/json' }, rpcBody('system.info', {}));
    expect(wrong.status).toBe(401);
  });

  it('the cookie opens /api/ws from the same Origin; a foreign or missing Origin is refused with 403', async () => {
    const c = await connect(s, { token: null, headers: { cookie, origin } });
    try {
      expect((await c.call('files.list', { path: '' })).entries.some((e: { name: string }) => e.name === 'via-cookie.txt')).toBe(true);
    } finally {
      await c.close();
    }
    await expect(connect(s, { token: null, headers: { cookie, origin: 'https://evil.example' } })).rejects.toMatchObject({ status: 403 });
    await expect(connect(s, { token: null, headers: { cookie } })).rejects.toMatchObject({ status: 403 });
    // Without cookie or token: the usual 4401 after the upgrade.
    const anon = await connect(s, { token: null, headers: { origin } });
    expect(await anon.closed).toBe(4401);
  });

  it('the cookie opens /api/yjs/{path} from the same Origin (the room syncs); a missing Origin is refused', async () => {
    writeFileSync(join(s.root, 'doc.txt'), 'shared\n');
    const y = await rawYjs(s, 'doc.txt', { token: null, headers: { cookie, origin } });
    try {
      const deadline = Date.now() + 5000;
      while (y.messages.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(y.messages.length).toBeGreaterThan(0);
    } finally {
      await y.close();
    }
    expect((await rawUpgrade(s, '/api/yjs/doc.txt', { cookie })).status).toBe(403);
    expect((await rawUpgrade(s, '/api/yjs/doc.txt', { cookie, Origin: 'https://evil.example' })).status).toBe(403);
    expect((await rawUpgrade(s, '/api/lsp/typescript', { cookie })).status).toBe(403);
  });

  it('the cookie opens the SSE stream /api/events (a GET: no Origin needed)', async () => {
    const ac = new AbortController();
    const res = await fetch(`${s.url}/api/events?patterns=fs.**`, { headers: { cookie }, signal: ac.signal });
    try {
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    } finally {
      ac.abort();
      await res.body?.cancel().catch(() => undefined);
    }
    expect((await raw(s, 'GET', '/api/events?patterns=fs.**', { cookie: 'icpy_session=x.y' })).status).toBe(401);
  });

  it('/mcp ignores the cookie (401)', async () => {
    const res = await raw(
      s,
      'POST',
      '/mcp',
      { cookie, origin, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
    );
    expect(res.status).toBe(401);
  });

  it('the cookie is named after the port, so another icpy server on localhost neither takes nor overwrites it', async () => {
    const other = await startServer({ token: s.token });
    try {
      const theirs = await login(other);
      expect(theirs.split('=')[0]).toBe(`icpy_session_${new URL(other.url).port}`);
      expect(theirs.split('=')[0]).not.toBe(cookie.split('=')[0]);
      // A browser sends both (cookies are per host, not per port): each server takes only its own.
      const jar = `${cookie}; ${theirs}`;
      expect((await raw(s, 'GET', '/api/openapi.json', { cookie: jar })).status).toBe(200);
      expect((await raw(other, 'GET', '/api/openapi.json', { cookie: jar })).status).toBe(200);
      expect((await raw(s, 'GET', '/api/openapi.json', { cookie: theirs })).status).toBe(401);
    } finally {
      await other.close();
    }
  });

  it('a forged or tampered cookie is 401', async () => {
    const [name, value] = cookie.split('=') as [string, string];
    const tampered = `${name}=${value.slice(0, -1)}${value.endsWith('A') ? 'B' : 'A'}`;
    expect((await raw(s, 'GET', '/api/openapi.json', { cookie: tampered })).status).toBe(401);
    expect((await raw(s, 'GET', '/api/openapi.json', { cookie: `${name}=${s.token}` })).status).toBe(401);
    // A valid one among others (other apps' cookies on localhost) still counts.
    expect((await raw(s, 'GET', '/api/openapi.json', { cookie: `other=1; ${tampered}; ${cookie}` })).status).toBe(200);
  });

  it('the app and its assets are served with the CSP, nosniff, no-referrer and cache rules', async () => {
    const page = await raw(s, 'GET', '/', { cookie });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toBe(
      "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    );
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.headers['cache-control']).toBe('no-store');
    for (const [name, type] of [
      ['app.js', /^text\/javascript/],
      ['app.css', /^text\/css/],
      ['app.js.map', /^application\/json/],
    ] as const) {
      const res = await raw(s, 'GET', `/assets/${name}`);
      expect(res.status, name).toBe(200);
      expect(res.headers['content-type']).toMatch(type);
      expect(res.headers['content-security-policy']).toContain("default-src 'self'");
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.body).toBe(readFileSync(join(webDir, name), 'utf8'));
      const again = await raw(s, 'GET', `/assets/${name}`, { 'if-none-match': res.headers.etag as string });
      expect(again.status).toBe(304);
    }
  });

  it('no URL path reaches the file system: traversal, encodings, folders and unlisted names serve nothing', async () => {
    writeFileSync(join(webDir, 'added-later.js'), 'late');
    for (const path of [
      '/assets/../package.json',
      '/assets/..%2fpackage.json',
      '/assets/%2e%2e/%2e%2e/package.json',
      '/assets/../../package.json',
      '/assets/nested/secret.txt',
      '/assets/nested%2fsecret.txt',
      '/assets/index.html',
      '/assets/',
      '/assets/added-later.js',
      '/assets/APP.JS',
      '/assets/app.js%00.map',
    ]) {
      const res = await raw(s, 'GET', path, { cookie });
      expect(res.status, path).toBe(404);
      expect(res.body).not.toContain('"name"');
      expect(res.body).not.toContain('not served');
    }
  });

  it('POST /api/session/logout clears the cookie (Max-Age=0); a foreign Origin cannot', async () => {
    const out = await raw(s, 'POST', '/api/session/logout', { cookie, origin });
    expect(out.status).toBe(204);
    const set = (out.headers['set-cookie'] as string[])[0]!;
    expect(set).toMatch(new RegExp(`^icpy_session_${new URL(s.url).port}=;`));
    expect(set).toContain('Max-Age=0');
    expect(set).toContain('HttpOnly');
    expect(set).toContain('Path=/');
    const evil = await raw(s, 'POST', '/api/session/logout', { cookie, origin: 'https://evil.example' });
    expect(evil.status).toBe(403);
    expect(evil.headers['set-cookie']).toBeUndefined();
  });
});

describe('web session across restarts', () => {
  it('a restart with the same token accepts the old cookie; a new token makes it 401 (HTTP and WebSocket)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'icpy-web-restart-'));
    try {
      let s = await startServer({ root, token: 'first-token-abc' });
      const cookie = await login(s);
      // A restart comes back on the same port (the page's address; the cookie is named after it).
      const port = Number(new URL(s.url).port);
      await s.close();
      s = await startServer({ root, token: 'first-token-abc', port });
      try {
        expect((await raw(s, 'GET', '/api/openapi.json', { cookie })).status).toBe(200);
        const c = await connect(s, { token: null, headers: { cookie, origin: s.url } });
        await c.close();
      } finally {
        await s.close();
      }
      s = await startServer({ root, token: 'second-token-xyz', port });
      try {
        expect((await raw(s, 'GET', '/api/openapi.json', { cookie })).status).toBe(401);
        const c = await connect(s, { token: null, headers: { cookie, origin: s.url } });
        expect(await c.closed).toBe(4401);
      } finally {
        await s.close();
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('an agent credential token is not exchanged for a cookie', async () => {
    const s = await startServer();
    try {
      const made = await s.call('agents.tokens.create', { name: 'bot', scopes: ['read'] });
      const res = await raw(s, 'GET', `/?token=${encodeURIComponent(made.token)}`);
      expect(res.status).not.toBe(303);
      expect(res.headers['set-cookie']).toBeUndefined();
    } finally {
      await s.close();
    }
  });

  it('without a built web UI, / answers 503 saying to run npm run build (the exchange still works)', async () => {
    const missing = join(tmpdir(), `icpy-no-web-${process.pid}-${Date.now()}`);
    expect(existsSync(missing)).toBe(false);
    const s = await startServer({}, { webDir: missing });
    try {
      const res = await raw(s, 'GET', '/');
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.body).toMatch(/the web UI is not built/i);
      expect(res.body).toContain('npm run build');
      expect((await raw(s, 'GET', '/assets/app.js')).status).toBe(404);
      expect((await raw(s, 'GET', `/?token=${s.token}`)).status).toBe(303);
    } finally {
      await s.close();
    }
  });
});

describe('the real web build, served', () => {
  it('index.html from scripts/build-web.mjs and every /assets/ file it names are served with the CSP', async () => {
    const out = mkdtempSync(join(tmpdir(), 'icpy-web-build-'));
    const root = join(import.meta.dirname, '..');
    execFileSync(process.execPath, [join(root, 'scripts', 'build-web.mjs'), '--out', out], { cwd: root, encoding: 'utf8' });
    const s = await startServer({}, { webDir: out });
    try {
      const page = await raw(s, 'GET', '/');
      expect(page.status).toBe(200);
      expect(page.headers['content-security-policy']).toContain("default-src 'self'");
      // The CSP allows no inline script: every script is a file under /assets/.
      expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
      const refs = [...page.body.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
      expect(refs).toEqual(expect.arrayContaining(['/assets/app.js', '/assets/app.css']));
      for (const ref of refs) expect((await raw(s, 'GET', ref)).status, ref).toBe(200);
      expect((await raw(s, 'GET', '/assets/app.js.map')).status).toBe(200);
    } finally {
      await s.close();
      rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);
});
