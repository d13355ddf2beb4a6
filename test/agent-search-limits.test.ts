import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compilePathRule, type Principal } from '../src/core/principal.js';
import type { Scope } from '../src/core/rpc/index.js';
import { findRipgrep } from '../src/services/files/index.js';
import { RpcError, startServer, type TestServer } from './helpers/server.js';

// Path limits go into the search itself (slice "search"): a `src/**` agent's pages fill with hits
// inside, `total` counts only those, and nothing in the reply names what matched outside.
const AGENT_TOKEN = 'agent-search-token';
const agent: Principal = Object.freeze({
  id: 'agent:s1',
  kind: 'agent',
  name: 'src-agent',
  scopes: new Set<Scope>(['read']),
  paths: compilePathRule(['src/**']),
});

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'icpy-search-limits-'));
  mkdirSync(join(root, 'aaa'));
  mkdirSync(join(root, 'src'));
  // 50 files outside (many matching lines each, so any one of them fills a page of 3), 3 inside.
  for (let i = 0; i < 50; i++) writeFileSync(join(root, 'aaa', `needle-outside${i}.txt`), 'NEEDLE\n'.repeat(20));
  for (let i = 0; i < 25; i++) writeFileSync(join(root, `needle-top${i}.txt`), 'NEEDLE\n'.repeat(20));
  for (let i = 0; i < 3; i++) writeFileSync(join(root, 'src', `needle-in${i}.ts`), `export const x${i} = 'NEEDLE';\n`);
  writeFileSync(join(root, 'src', 'other.js'), "'NEEDLE';\n");
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const INSIDE = ['src/needle-in0.ts', 'src/needle-in1.ts', 'src/needle-in2.ts'];

function noOutsideNames(reply: unknown): void {
  const text = JSON.stringify(reply);
  expect(text).not.toContain('outside');
  expect(text).not.toContain('needle-top');
  expect(text).not.toContain('aaa');
}

for (const engine of [...(findRipgrep() ? (['ripgrep'] as const) : []), 'builtin'] as const) {
  describe(`path-limited search and find (${engine})`, () => {
    let s: TestServer;
    const call = async (method: string, params: unknown): Promise<any> => {
      const { body } = await s.rpc({ jsonrpc: '2.0', id: 1, method, params }, { token: AGENT_TOKEN });
      if (body.error) throw new RpcError(body.error.code, body.error.message, body.error.data);
      return body.result;
    };
    beforeAll(async () => {
      s = await startServer({ root, searchEngine: engine === 'builtin' ? 'builtin' : 'auto' }, { authenticate: (t) => (t === AGENT_TOKEN ? agent : undefined) });
    });
    afterAll(async () => {
      await s.close();
    });

    it('files.search: maxResults 3 gives the 3 hits inside, total 3, no outside names', async () => {
      const r = await call('files.search', { query: 'NEEDLE', globs: ['*.ts'], maxResults: 3 });
      expect(r.engine).toBe(engine);
      expect(r.results.map((m: any) => m.path).sort()).toEqual(INSIDE);
      expect(r.total).toBe(3);
      noOutsideNames(r);
      // Without globs: the 4 inside files, whatever maxResults leaves room for.
      const all = await call('files.search', { query: 'NEEDLE', maxResults: 100 });
      expect(all.results.map((m: any) => m.path).sort()).toEqual([...INSIDE, 'src/other.js'].sort());
      expect(all).toMatchObject({ total: 4, limitHit: false });
      noOutsideNames(all);
      // A negative glob of the caller's still excludes inside the limits.
      const neg = await call('files.search', { query: 'NEEDLE', globs: ['!*.js'], maxResults: 3 });
      expect(neg.results.map((m: any) => m.path).sort()).toEqual(INSIDE);
      expect(neg.total).toBe(3);
      noOutsideNames(neg);
    });

    it('files.search paged: every page and the total hold allowed hits only', async () => {
      const first = await call('files.search', { query: 'NEEDLE', pageSize: 2 });
      expect(first.results).toHaveLength(2);
      expect(first.total).toBe(4);
      const next = await call('files.search', { cursor: first.nextCursor });
      expect(next.results).toHaveLength(2);
      expect(next.nextCursor).toBeUndefined();
      noOutsideNames([first, next]);
    });

    it('files.find: maxResults 3 gives the 3 names inside, total 3, limitHit false', async () => {
      const r = await call('files.find', { query: 'needle', maxResults: 3 });
      expect(r.results.map((m: any) => m.path).sort()).toEqual(INSIDE);
      expect(r).toMatchObject({ total: 3, limitHit: false });
      noOutsideNames(r);
      const every = await call('files.find', { query: '' });
      expect(every.total).toBe(4);
      noOutsideNames(every);
    });

    it('the owner still finds everything', async () => {
      const r = await s.call('files.find', { query: 'needle', maxResults: 1000 });
      expect(r.total).toBe(78);
    });
  });
}

describe('path-limited files.list', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ root }, { authenticate: (t) => (t === AGENT_TOKEN ? agent : undefined) });
  });
  afterAll(async () => {
    await s.close();
  });

  it('counts and pages only what the agent may see', async () => {
    const { body } = await s.rpc({ jsonrpc: '2.0', id: 1, method: 'files.list', params: { path: '', limit: 1 } }, { token: AGENT_TOKEN });
    expect(body.result).toMatchObject({ path: '', total: 1, entries: [{ path: 'src', type: 'dir' }] });
    expect(body.result.nextCursor).toBeUndefined();
    noOutsideNames(body.result);
    const owner = await s.call('files.list', { path: '', limit: 1 });
    expect(owner.total).toBe(27);
  });
});
