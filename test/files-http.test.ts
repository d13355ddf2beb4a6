import SwaggerParser from '@apidevtools/swagger-parser';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, truncateSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './helpers/server.js';

describe('files over REST (/api/files/{path})', () => {
  let s: TestServer;
  let outside: string;
  const auth = () => ({ authorization: `Bearer ${s.token}` });
  const url = (p: string) => `${s.url}/api/files/${p}`;

  beforeAll(async () => {
    s = await startServer();
    outside = mkdtempSync(join(tmpdir(), 'icpy-outside-'));
    writeFileSync(join(outside, 'secret.txt'), 'secret');
  });
  afterAll(async () => {
    await s.close();
    rmSync(outside, { recursive: true, force: true });
  });

  it('PUT creates then replaces, GET returns bytes with ETag = files.read version', async () => {
    let res = await fetch(url('dir/hello.txt?mkdirs=1'), { method: 'PUT', headers: { ...auth(), 'content-type': 'text/plain' }, body: 'hello world' });
    expect(res.status).toBe(201);
    const created = (await res.json() as any);
    expect(created).toMatchObject({ path: 'dir/hello.txt', size: 11, created: true });
    expect(res.headers.get('etag')).toBe(`"${created.version}"`);
    res = await fetch(url('dir/hello.txt'), { headers: auth() });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('hello world');
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(res.headers.get('etag')).toBe(`"${created.version}"`);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const read = await s.call('files.read', { path: 'dir/hello.txt' });
    expect(`"${read.version}"`).toBe(res.headers.get('etag'));
    // 304
    res = await fetch(url('dir/hello.txt'), { headers: { ...auth(), 'if-none-match': `"${created.version}"` } });
    expect(res.status).toBe(304);
    // JSON bodies are stored verbatim too (no parser in the way)
    res = await fetch(url('data.json'), { method: 'PUT', headers: { ...auth(), 'content-type': 'application/json' }, body: '{"a":1' });
    expect(res.status).toBe(201);
    expect(readFileSync(join(s.root, 'data.json'), 'utf8')).toBe('{"a":1');
    // no content type at all
    res = await fetch(url('raw.bin'), { method: 'PUT', headers: auth(), body: new Uint8Array([0, 1, 2, 3]) });
    expect(res.status).toBe(201);
    expect(readFileSync(join(s.root, 'raw.bin'))).toEqual(Buffer.from([0, 1, 2, 3]));
  });

  it('serves binary files and byte ranges', async () => {
    const bytes = Buffer.alloc(1000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = i % 256;
    writeFileSync(join(s.root, 'img.png'), bytes);
    let res = await fetch(url('img.png'), { headers: auth() });
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await res.arrayBuffer())).toEqual(bytes);
    res = await fetch(url('img.png'), { headers: { ...auth(), range: 'bytes=10-19' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe('bytes 10-19/1000');
    expect(Buffer.from(await res.arrayBuffer())).toEqual(bytes.subarray(10, 20));
    // HEAD answers with the GET's headers (a HEAD of a range too) and no body
    const get = await fetch(url('img.png'), { headers: auth() });
    await get.arrayBuffer();
    res = await fetch(url('img.png'), { method: 'HEAD', headers: auth() });
    expect(res.status).toBe(200);
    for (const h of ['etag', 'content-length', 'content-type', 'last-modified', 'content-disposition']) expect(res.headers.get(h), h).toBe(get.headers.get(h));
    expect((await res.arrayBuffer()).byteLength).toBe(0);
    res = await fetch(url('img.png'), { method: 'HEAD', headers: { ...auth(), range: 'bytes=10-19' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-length')).toBe('10');
    expect(res.headers.get('content-range')).toBe('bytes 10-19/1000');
    res = await fetch(url('img.png'), { headers: { ...auth(), range: 'bytes=-5' } });
    expect(Buffer.from(await res.arrayBuffer())).toEqual(bytes.subarray(995));
    res = await fetch(url('img.png'), { headers: { ...auth(), range: 'bytes=990-' } });
    expect(Buffer.from(await res.arrayBuffer())).toEqual(bytes.subarray(990));
    res = await fetch(url('img.png'), { headers: { ...auth(), range: 'bytes=5000-' } });
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe('bytes */1000');
    await res.text();
  });

  it('serves workspace HTML so it cannot run script in the API origin', async () => {
    writeFileSync(join(s.root, 'evil.html'), '<script>fetch("/api/rpc")</script>');
    const res = await fetch(url('evil.html'), { headers: auth() });
    expect(res.headers.get('content-security-policy')).toMatch(/sandbox/);
    expect(res.headers.get('content-disposition')).toMatch(/^attachment/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    await res.text();
  });

  it('honours If-Match and If-None-Match on PUT (412 with the current version)', async () => {
    let res = await fetch(url('cond.txt'), { method: 'PUT', headers: auth(), body: 'v1' });
    const v1 = ((await res.json() as any)).version;
    res = await fetch(url('cond.txt'), { method: 'PUT', headers: { ...auth(), 'if-match': `"${v1}"` }, body: 'v2' });
    expect(res.status).toBe(200);
    const v2 = ((await res.json() as any)).version;
    res = await fetch(url('cond.txt'), { method: 'PUT', headers: { ...auth(), 'if-match': `"${v1}"` }, body: 'v3' });
    expect(res.status).toBe(412);
    const body = (await res.json() as any);
    expect(body.error.data).toMatchObject({ code: 'VERSION_CONFLICT', currentVersion: v2 });
    expect(readFileSync(join(s.root, 'cond.txt'), 'utf8')).toBe('v2');
    res = await fetch(url('cond.txt'), { method: 'PUT', headers: { ...auth(), 'if-none-match': '*' }, body: 'v4' });
    expect(res.status).toBe(412);
    await res.text();
    res = await fetch(url('fresh.txt'), { method: 'PUT', headers: { ...auth(), 'if-match': '*' }, body: 'x' });
    expect(res.status).toBe(412);
    await res.text();
  });

  it('DELETE removes files and refuses non-empty folders without recursive', async () => {
    writeFileSync(join(s.root, 'gone.txt'), 'x');
    let res = await fetch(url('gone.txt'), { method: 'DELETE', headers: auth() });
    expect(res.status).toBe(200);
    await res.text();
    res = await fetch(url('gone.txt'), { headers: auth() });
    expect(res.status).toBe(404);
    expect(((await res.json() as any)).error.data.code).toBe('FILE_NOT_FOUND');
    res = await fetch(url('dir'), { method: 'DELETE', headers: auth() });
    expect(res.status).toBe(409);
    await res.text();
    res = await fetch(url('dir?recursive=1'), { method: 'DELETE', headers: auth() });
    expect(res.status).toBe(200);
    await res.text();
  });

  it('GET ?stat answers files.stat as JSON, for files and folders', async () => {
    writeFileSync(join(s.root, 'st.txt'), 'stat me');
    let res = await fetch(`${url('st.txt')}?stat=1`, { headers: auth() });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const st = (await res.json()) as any;
    expect(st).toEqual(await s.call('files.stat', { path: 'st.txt' }));
    expect(st).toMatchObject({ path: 'st.txt', type: 'file', size: 7, symlink: false });
    expect(res.headers.get('etag')).toBe(`"${st.version}"`);
    res = await fetch(`${s.url}/api/files/?stat`, { headers: auth() });
    expect(((await res.json()) as any).type).toBe('dir');
    res = await fetch(`${url('no-such.txt')}?stat=1`, { headers: auth() });
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).error.data.code).toBe('FILE_NOT_FOUND');
    res = await fetch(`${url('..%2Fetc%2Fpasswd')}?stat=1`, { headers: auth() });
    expect(res.status).toBe(403);
    await res.text();
  });

  it('refuses paths outside the workspace and .icpy/', async () => {
    symlinkSync(outside, join(s.root, 'out'));
    for (const p of ['out/secret.txt', '..%2Fetc%2Fpasswd', '%2Fetc%2Fpasswd']) {
      const res = await fetch(url(p), { headers: auth() });
      expect(res.status).toBe(403);
      expect(((await res.json() as any)).error.data.code).toBe('PATH_OUTSIDE_WORKSPACE');
    }
    let res = await fetch(url('out/new.txt'), { method: 'PUT', headers: auth(), body: 'x' });
    expect(res.status).toBe(403);
    await res.text();
    res = await fetch(url('.icpy/x'), { method: 'PUT', headers: auth(), body: 'x' });
    expect(res.status).toBe(403);
    expect(((await res.json() as any)).error.data.code).toBe('READ_ONLY_PATH');
    res = await fetch(url('x.txt'), { method: 'PUT', body: 'x' });
    expect(res.status).toBe(401);
    await res.text();
  });

  it('sends exactly the announced bytes of a file that grows while it streams (a log)', async () => {
    const size = 16 * 1024 * 1024;
    writeFileSync(join(s.root, 'grow.log'), Buffer.alloc(size, 97));
    writeFileSync(join(s.root, 'after.txt'), 'next response');
    // one keep-alive socket: bytes past Content-Length would land in the next response
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = (p: string) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        request(url(p), { headers: auth(), agent }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (d: Buffer) => chunks.push(d));
          res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString() }));
          res.on('error', reject);
        })
          .on('error', reject)
          .end();
      });
    const { status, length, body, error } = await new Promise<{ status: number; length: number; body: number; error?: string }>((resolve) => {
      const req = request(url('grow.log'), { headers: auth(), agent }, (res) => {
        res.pause();
        // the file grows by 8 MiB after the headers went out, while most of it is still unread
        appendFileSync(join(s.root, 'grow.log'), Buffer.alloc(8 * 1024 * 1024, 98));
        let body = 0;
        res.on('data', (d: Buffer) => (body += d.length));
        res.on('end', () => resolve({ status: res.statusCode!, length: Number(res.headers['content-length']), body }));
        res.on('error', (e) => resolve({ status: res.statusCode!, length: Number(res.headers['content-length']), body, error: String(e) }));
        res.resume();
      });
      req.on('error', (e) => resolve({ status: 0, length: 0, body: 0, error: String(e) }));
      req.end();
    });
    expect(error).toBeUndefined();
    expect(status).toBe(200);
    expect(length).toBe(size);
    expect(body).toBe(size);
    expect(await get('after.txt')).toEqual({ status: 200, text: 'next response' });
    agent.destroy();
  });

  it('cuts the response (not a hang) when the file shrinks while it streams', async () => {
    writeFileSync(join(s.root, 'shrink.log'), Buffer.alloc(16 * 1024 * 1024, 97));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const outcome = await new Promise<string>((resolve) => {
      request(url('shrink.log'), { headers: auth(), agent }, (res) => {
        res.pause();
        truncateSync(join(s.root, 'shrink.log'), 1000);
        res.on('data', () => undefined);
        res.on('end', () => resolve('ended short, as if complete'));
        res.on('error', () => resolve('aborted'));
        res.resume();
      })
        .on('error', () => resolve('aborted'))
        .end();
    });
    agent.destroy();
    expect(outcome).toBe('aborted');
    const after = await fetch(url('shrink.log'), { headers: auth() });
    expect((await after.arrayBuffer()).byteLength).toBe(1000);
  });

  it('a slow upload does not hold up other writers, and its If-Match is checked again at the end', async () => {
    const first = await s.call('files.write', { path: 'race.txt', content: 'v1' });
    // a chunked PUT that sends half its body and waits
    let status = 0;
    let answer = '';
    const req = request(url('race.txt'), { method: 'PUT', headers: { ...auth(), 'if-match': `"${first.version}"`, 'transfer-encoding': 'chunked' } });
    const done = new Promise<void>((resolve) => {
      req.on('response', (res) => {
        status = res.statusCode!;
        res.on('data', (d: Buffer) => (answer += d.toString()));
        res.on('end', resolve);
      });
    });
    req.write(Buffer.alloc(512 * 1024, 120));
    await new Promise((r) => setTimeout(r, 200));
    // meanwhile another client writes the same file: not blocked by the upload
    const second = await s.call('files.write', { path: 'race.txt', content: 'v2 from another client' });
    req.end(Buffer.alloc(512 * 1024, 121));
    await done;
    expect(status).toBe(412);
    expect(JSON.parse(answer).error.data).toMatchObject({ code: 'VERSION_CONFLICT', currentVersion: second.version });
    expect(readFileSync(join(s.root, 'race.txt'), 'utf8')).toBe('v2 from another client');
    expect(readdirSync(s.root).filter((n) => n.includes('.tmp'))).toEqual([]);
  });

  it('streams a large upload to disk (64 MiB, chunked, no Content-Length)', async () => {
    const chunk = Buffer.alloc(1024 * 1024, 97);
    let sent = 0;
    const src = new Readable({
      read() {
        if (sent >= 64) return this.push(null);
        sent++;
        this.push(chunk);
      },
    });
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(url('big.bin'));
      const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'PUT', headers: { ...auth(), 'content-type': 'application/octet-stream' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      src.pipe(req);
    });
    expect(status).toBe(201);
    expect(statSync(join(s.root, 'big.bin')).size).toBe(64 * 1024 * 1024);
    // large files are streamed back from one descriptor, ranges included
    let res = await fetch(url('big.bin'), { headers: { ...auth(), range: 'bytes=1000-1999' } });
    expect(res.status).toBe(206);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(Buffer.alloc(1000, 97));
    const etag = res.headers.get('etag')!;
    res = await fetch(url('big.bin'), { headers: { ...auth(), 'if-none-match': etag } });
    expect(res.status).toBe(304);
    res = await fetch(url('big.bin'), { method: 'HEAD', headers: auth() });
    expect(res.headers.get('content-length')).toBe(String(64 * 1024 * 1024));
    res = await fetch(url('big.bin'), { headers: auth() });
    expect((await res.arrayBuffer()).byteLength).toBe(64 * 1024 * 1024);
  });

  it('documents the routes in OpenAPI', async () => {
    const res = await fetch(`${s.url}/api/openapi.json`, { headers: auth() });
    const doc = (await res.json() as any);
    expect(Object.keys(doc.paths['/api/files/{path}'])).toEqual(expect.arrayContaining(['get', 'put', 'delete']));
    // ?stat's JSON schema is files.stat's result schema, by reference
    const deref = (await SwaggerParser.dereference(structuredClone(doc))) as any;
    const statSchema = deref.paths['/api/files/{path}'].get.responses['200'].content['application/json'].schema;
    expect(Object.keys(statSchema.properties)).toEqual(expect.arrayContaining(['path', 'type', 'size', 'mtime', 'version', 'symlink']));
  });
});
