import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compilePathRule, type Principal } from '../src/core/principal.js';
import type { Scope } from '../src/core/rpc/index.js';
import { connect, startServer, type TestServer, type WsClient } from './helpers/server.js';

// Narrowing (issue 13 follow-up): an event naming paths inside and outside an agent's limits
// reaches it with only its own paths, rather than not at all.
const AGENT_TOKEN = 'agent-narrow-token';
const agent: Principal = Object.freeze({
  id: 'agent:n1',
  kind: 'agent',
  name: 'narrow-agent',
  scopes: new Set<Scope>(['read', 'write']),
  paths: compilePathRule(['src/**']),
});

let s: TestServer;
let root: string;
const clients: WsClient[] = [];

/** JSON-RPC over HTTP with the agent's credential. */
const agentCall = (method: string, params?: unknown): Promise<any> => s.callAs(AGENT_TOKEN, method, params);

async function ws(token: string, name: string): Promise<WsClient> {
  const c = await connect(s, { token, name });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'icpy-narrow-'));
  mkdirSync(join(root, 'src'));
  s = await startServer({ root, historyEvents: 10_000 }, { authenticate: (t) => (t === AGENT_TOKEN ? agent : undefined) });
});

afterAll(async () => {
  for (const c of clients) await c.close();
  await s.close();
  rmSync(root, { recursive: true, force: true });
});

const bothPaths = (e: any) => e.topic.startsWith('fs.file.') && e.data.paths.includes('src/a.txt') && e.data.paths.includes('secret.txt');

describe('a batch naming paths inside and outside the limits is narrowed per subscriber', () => {
  let batch: any; // the owner's event naming both files
  let agentWs: WsClient;

  it('WS subscribe: the agent gets the batch with only src/a.txt (same topic, seq, time, source); the owner gets both', async () => {
    const owner = await ws(s.token, 'owner-watcher');
    agentWs = await ws(AGENT_TOKEN, 'agent-watcher');
    await owner.call('events.subscribe', { patterns: ['fs.**'] });
    await agentWs.call('events.subscribe', { patterns: ['fs.**'] });
    // Another program writes both in one burst, so the watcher reports them as one event. On a
    // loaded machine the burst may still be split: write both again (fs.file.changed) until the
    // owner sees one event naming both.
    // First make sure the watcher is watching (on a loaded machine it may start late, and writes
    // before that are never reported): rewrite a probe until its event arrives.
    for (let i = 0; !owner.events().some((e) => e.data.paths?.includes('src/probe.txt')); i++) {
      if (i >= 40) throw new Error('the watcher reported nothing in 20 s');
      writeFileSync(join(root, 'src', 'probe.txt'), `probe ${i}\n`);
      await new Promise((r) => setTimeout(r, 500));
    }
    for (let attempt = 0; attempt < 8 && !batch; attempt++) {
      const seen = owner.events().length;
      writeFileSync(join(root, 'src', 'a.txt'), `inside ${attempt}\n`);
      writeFileSync(join(root, 'secret.txt'), `SECRET ${attempt}\n`);
      await owner.waitFor(() => {
        const mine = owner.events().slice(seen);
        const paths = new Set(mine.flatMap((e) => e.data.paths));
        return paths.has('src/a.txt') && paths.has('secret.txt');
      }, 10_000, 'both writes reported');
      batch = owner.events().slice(seen).find(bothPaths);
    }
    expect(batch, 'the watcher batched src/a.txt and secret.txt into one event').toBeDefined();
    expect(batch.data.paths).toEqual(['secret.txt', 'src/a.txt']);

    const got = await agentWs.waitFor(() => agentWs.events().find((e) => e.seq === batch.seq), 10_000, 'the narrowed batch');
    expect(got).toEqual({ ...batch, subscription: got.subscription, data: { paths: ['src/a.txt'] } });
    expect(JSON.stringify(agentWs.events())).not.toContain('secret.txt');
  }, 120_000);

  it('WS subscribe with since (replay) delivers the same narrowed event', async () => {
    const late = await ws(AGENT_TOKEN, 'agent-late');
    await late.call('events.subscribe', { patterns: ['fs.**'], since: batch.seq - 1 });
    const got = await late.waitFor(() => late.events().find((e) => e.seq === batch.seq), 10_000, 'the replayed batch');
    expect(got.data).toEqual({ paths: ['src/a.txt'] });
    expect(JSON.stringify(late.events())).not.toContain('secret.txt');
  });

  it('events.history: the narrowed event for the agent, the whole one for the owner', async () => {
    const h = await agentCall('events.history', { since: batch.seq - 1, patterns: ['fs.**'] });
    const mine = h.events.find((e: any) => e.seq === batch.seq);
    expect(mine).toEqual({ ...batch, subscription: undefined, data: { paths: ['src/a.txt'] } });
    expect(JSON.stringify(h)).not.toContain('secret.txt');
    const full = await s.call('events.history', { since: batch.seq - 1, patterns: ['fs.**'] });
    expect(full.events.find((e: any) => e.seq === batch.seq).data.paths).toEqual(['secret.txt', 'src/a.txt']);
  });

  it('SSE: the narrowed event, never naming secret.txt', async () => {
    const ac = new AbortController();
    const res = await fetch(`${s.url}/api/events?patterns=fs.**&since=${batch.seq - 1}`, { headers: { authorization: `Bearer ${AGENT_TOKEN}` }, signal: ac.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let buf = '';
    const frame = new RegExp(`id: ${batch.seq}\\nevent: event\\ndata: (.*)\\n\\n`);
    while (!frame.test(buf)) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
    }
    await reader.cancel();
    ac.abort();
    const m = frame.exec(buf);
    expect(m).not.toBeNull();
    const { subscription: _, ...whole } = batch;
    expect(JSON.parse(m![1])).toEqual({ ...whole, data: { paths: ['src/a.txt'] } });
    expect(buf).not.toContain('secret.txt');
  });
});

describe('editor events are narrowed like workspace.get', () => {
  it('reordered lists only allowed editors; closed names an active editor outside as none', async () => {
    const a = await ws(AGENT_TOKEN, 'agent-editors');
    await a.call('events.subscribe', { patterns: ['workspace.**'] });
    writeFileSync(join(root, 'src', 'b.txt'), 'b\n');
    await s.call('workspace.openFile', { path: 'src/a.txt' });
    await s.call('workspace.openFile', { path: 'secret.txt' });
    await s.call('workspace.openFile', { path: 'src/b.txt' });
    await s.call('workspace.reorderFiles', { paths: ['src/b.txt', 'secret.txt', 'src/a.txt'] });
    await s.call('workspace.setActive', { path: 'secret.txt' });
    await s.call('workspace.closeFile', { path: 'src/b.txt' });
    const closed = await a.waitFor(() => a.events().find((e) => e.topic === 'workspace.file.closed'), 10_000, 'closed');
    expect(closed.data).toMatchObject({ path: 'src/b.txt', active: null });
    const reordered = a.events().find((e) => e.topic === 'workspace.files.reordered');
    expect(reordered.data.paths).toEqual(['src/b.txt', 'src/a.txt']);
    expect(JSON.stringify(a.events())).not.toContain('secret.txt');
  });
});
