import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findServer, parseServerUrl, pickRuntimeServer } from './discovery.js';
import type { RuntimeInfo } from './runtime-file.js';

const base = mkdtempSync(join(tmpdir(), 'icpy-discovery-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

function info(root: string, url: string): RuntimeInfo {
  return { url, token: `tok-${url.slice(-4)}`, root, pid: process.pid, startedAt: 0, version: 't' };
}

describe('server discovery', () => {
  it('parses the URL line icpy serve prints, and ws:// URLs', () => {
    expect(parseServerUrl('http://127.0.0.1:8000/?token=abc')).toEqual({ url: 'http://127.0.0.1:8000', token: 'abc' });
    expect(parseServerUrl('ws://localhost:9/api/ws')).toEqual({ url: 'http://localhost:9', token: undefined });
    expect(parseServerUrl('localhost:8000').url).toBe('http://localhost:8000');
  });

  it('picks the server whose root contains the folder; the deepest root wins; siblings never match', () => {
    const a = join(base, 'a');
    const ab = join(a, 'b');
    mkdirSync(join(ab, 'c'), { recursive: true });
    mkdirSync(join(base, 'a2'), { recursive: true });
    const servers = [info(a, 'http://h:1001'), info(ab, 'http://h:1002')];
    expect(pickRuntimeServer(servers, join(ab, 'c'))?.url).toBe('http://h:1002');
    expect(pickRuntimeServer(servers, ab)?.url).toBe('http://h:1002');
    expect(pickRuntimeServer(servers, a)?.url).toBe('http://h:1001');
    expect(pickRuntimeServer(servers, join(base, 'a2'))).toBeUndefined();
  });

  it('flags beat env, env beats the runtime file; a URL without token borrows the runtime file token', () => {
    const dir = mkdtempSync(join(base, 'rt-'));
    const root = mkdtempSync(join(base, 'root-'));
    writeFileSync(join(dir, `server-${process.pid}.json`), JSON.stringify(info(root, 'http://127.0.0.1:4321')), { mode: 0o600 });
    const fromFile = findServer({ cwd: root, env: {}, runtimeDir: dir });
    expect(fromFile).toMatchObject({ url: 'http://127.0.0.1:4321', token: 'tok-4321', root, via: 'runtime-file' });
    const fromEnv = findServer({ cwd: root, env: { ICPY_URL: 'http://127.0.0.1:4321' }, runtimeDir: dir });
    expect(fromEnv).toMatchObject({ via: 'env', token: 'tok-4321', root });
    const fromFlag = findServer({ cwd: root, url: 'http://other:1', token: 'T', env: { ICPY_URL: 'http://x:2' }, runtimeDir: dir });
    expect(fromFlag).toEqual({ url: 'http://other:1', token: 'T', root: undefined, via: 'flag' });
    expect(() => findServer({ cwd: base, env: {}, runtimeDir: dir })).toThrow(/npx icpy serve \./);
    // An agent given a credential in ICPY_TOKEN acts as itself, not with the owner's file token.
    expect(findServer({ cwd: root, env: { ICPY_TOKEN: 'icpy_agent_x_y' }, runtimeDir: dir })).toMatchObject({ via: 'runtime-file', token: 'icpy_agent_x_y', root });
    expect(findServer({ cwd: root, token: 'T', env: { ICPY_TOKEN: 'icpy_agent_x_y' }, runtimeDir: dir }).token).toBe('T');
  });
});
