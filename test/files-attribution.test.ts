import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, startServer, type TestServer, type WsClient } from './helpers/server.js';

/** Events under `topic` that list `path`. */
function eventsFor(c: WsClient, topic: string, path: string): any[] {
  return c.events().filter((e) => e.topic === topic && e.data.paths.includes(path));
}

/** Every fs.* event (any topic) naming `path`. */
function allFor(c: WsClient, path: string): any[] {
  return c.events().filter((e) => e.topic.startsWith('fs.') && e.data.paths.includes(path));
}

/**
 * Issue 9: attribution by a 2-second window credited one caller's change to another. Changes
 * made through icpy are now published by the files service with the caller as source; the
 * watcher reports only what icpy did not do.
 */
describe('exact attribution of file changes', () => {
  let s: TestServer;
  let watch: WsClient;
  let fence = 0;

  /** Wait until the watcher has processed everything that happened on disk before now. */
  async function settle(): Promise<void> {
    const name = `fence${fence++}.txt`;
    writeFileSync(join(s.root, name), 'f');
    await watch.waitFor(() => eventsFor(watch, 'fs.file.created', name).length > 0, 10_000, name);
  }

  beforeAll(async () => {
    s = await startServer();
    watch = await connect(s, { kind: 'browser', name: 'watcher' });
    await watch.call('events.subscribe', { patterns: ['fs.**'] });
  });
  afterAll(async () => {
    await watch.close();
    await s.close();
  });

  it('credits two WebSocket agents acting within milliseconds each with their own change', async () => {
    const a = await connect(s, { kind: 'agent', name: 'alpha' });
    const b = await connect(s, { kind: 'agent', name: 'beta' });
    await Promise.all([
      a.call('files.write', { path: 'ws-a.txt', content: 'a' }),
      b.call('files.write', { path: 'ws-b.txt', content: 'b' }),
      a.call('files.mkdir', { path: 'ws-dir-a' }),
      b.call('files.mkdir', { path: 'ws-dir-b/inner' }),
    ]);
    await settle();
    expect(allFor(watch, 'ws-a.txt').map((e) => e.source.name)).toEqual(['alpha']);
    expect(allFor(watch, 'ws-b.txt').map((e) => e.source.name)).toEqual(['beta']);
    expect(allFor(watch, 'ws-dir-a').map((e) => e.source.name)).toEqual(['alpha']);
    expect(allFor(watch, 'ws-dir-b/inner').map((e) => e.source.name)).toEqual(['beta']);
    await a.close();
    await b.close();
  });

  it('credits two CLI-like HTTP callers (X-Icpy-Client-Name) each with their own change', async () => {
    const as = (name: string, body: unknown) => s.rpc(body, { headers: { 'x-icpy-client-kind': 'cli', 'x-icpy-client-name': name } });
    const [r1, r2] = await Promise.all([
      as('cli-one', { jsonrpc: '2.0', id: 1, method: 'files.write', params: { path: 'http-1.txt', content: '1' } }),
      as('cli-two', { jsonrpc: '2.0', id: 2, method: 'files.write', params: { path: 'pair/f.txt', content: '2', mkdirs: true } }),
    ]);
    expect(r1.body.result.created && r2.body.result.created).toBe(true);
    // cli-one removes what cli-two just made, milliseconds later
    const r3 = await as('cli-one', { jsonrpc: '2.0', id: 3, method: 'files.delete', params: { path: 'pair', recursive: true } });
    expect(r3.body.result).toEqual({ path: 'pair' });
    await settle();
    expect(allFor(watch, 'http-1.txt').map((e) => e.source.name)).toEqual(['cli-one']);
    expect(allFor(watch, 'pair/f.txt').map((e) => `${e.topic} ${e.source.name}`)).toEqual(['fs.file.created cli-two']);
    expect(allFor(watch, 'pair').map((e) => `${e.topic} ${e.source.name}`)).toEqual(['fs.dir.created cli-two', 'fs.dir.deleted cli-one']);
  });

  it('credits a move to the mover and the following rm -r to the remover', async () => {
    mkdirSync(join(s.root, 'mvdir'));
    writeFileSync(join(s.root, 'mvdir', 'a.txt'), 'a');
    await settle();
    const hdr = (name: string) => ({ headers: { 'x-icpy-client-kind': 'cli', 'x-icpy-client-name': name } });
    const mv = await s.rpc({ jsonrpc: '2.0', id: 1, method: 'files.move', params: { from: 'mvdir/a.txt', to: 'mvdir/b.txt' } }, hdr('mover'));
    expect(mv.body.result).toEqual({ from: 'mvdir/a.txt', to: 'mvdir/b.txt' });
    const rm = await s.rpc({ jsonrpc: '2.0', id: 2, method: 'files.delete', params: { path: 'mvdir', recursive: true } }, hdr('remover'));
    expect(rm.body.result).toEqual({ path: 'mvdir' });
    await settle();
    expect(eventsFor(watch, 'fs.file.deleted', 'mvdir/a.txt').map((e) => e.source.name)).toEqual(['mover']);
    expect(eventsFor(watch, 'fs.file.created', 'mvdir/b.txt').map((e) => e.source.name)).toEqual(['mover']);
    expect(eventsFor(watch, 'fs.dir.deleted', 'mvdir').map((e) => e.source.name)).toEqual(['remover']);
    // Nothing of the removal is credited to anyone else (the old window gave mvdir/b.txt's delete to the mover).
    const deletes = watch.events().filter((e) => e.topic.endsWith('.deleted') && e.data.paths.some((p: string) => p === 'mvdir' || p.startsWith('mvdir/b')));
    expect(deletes.map((e) => e.source.name)).toEqual(['remover']);
  });

  it("reports another program's write right after an icpy write with the disk source", async () => {
    const a = await connect(s, { kind: 'agent', name: 'writer' });
    await a.call('files.write', { path: 'shared.txt', content: 'from icpy' });
    writeFileSync(join(s.root, 'shared.txt'), 'from another program, well inside the old 2 s window');
    const ext = await watch.waitFor(() => eventsFor(watch, 'fs.file.changed', 'shared.txt').find((e) => e.source.name === 'disk'), 10_000, 'disk change');
    expect(ext.source).toEqual({ connectionId: 'disk', kind: 'system', name: 'disk' });
    expect(eventsFor(watch, 'fs.file.created', 'shared.txt').map((e) => e.source.name)).toEqual(['writer']);
    await a.close();
  });

  it('publishes exactly one event per icpy change (the native report is dropped), before the reply', async () => {
    const a = await connect(s, { kind: 'agent', name: 'solo' });
    await a.call('events.subscribe', { patterns: ['fs.**'] });
    await a.call('files.write', { path: 'once.txt', content: '1' });
    // On the caller's own socket the event arrived before the reply.
    expect(a.events().some((e) => e.topic === 'fs.file.created' && e.data.paths.includes('once.txt'))).toBe(true);
    await a.call('files.write', { path: 'once.txt', content: '22' });
    await a.call('files.copy', { from: 'once.txt', to: 'twice.txt' });
    await a.call('files.mkdir', { path: 'tree/a/b' });
    await a.call('files.write', { path: 'tree/a/b/c.txt', content: 'c', mkdirs: true });
    await a.call('files.copy', { from: 'tree', to: 'tree2' });
    await a.call('files.move', { from: 'tree2', to: 'tree3' });
    await a.call('files.delete', { path: 'tree3', recursive: true });
    await settle();
    expect(allFor(watch, 'once.txt').map((e) => `${e.topic} ${e.source.name}`)).toEqual(['fs.file.created solo', 'fs.file.changed solo']);
    expect(allFor(watch, 'twice.txt').map((e) => `${e.topic} ${e.source.name}`)).toEqual(['fs.file.created solo']);
    expect(allFor(watch, 'tree/a/b').map((e) => `${e.topic} ${e.source.name}`)).toEqual(['fs.dir.created solo']);
    expect(allFor(watch, 'tree/a/b/c.txt').map((e) => `${e.topic} ${e.source.name}`)).toEqual(['fs.file.created solo']);
    expect(allFor(watch, 'tree3').map((e) => `${e.topic} ${e.source.name}`)).toEqual(['fs.dir.created solo', 'fs.dir.deleted solo']);
    // What lay under the copied, moved and removed folders is not reported again by the watcher.
    const disk = watch.events().filter((e) => e.source.name === 'disk' && e.data.paths.some((p: string) => /^(once|twice|tree)/.test(p)));
    expect(disk).toEqual([]);
    await a.close();
  });
});
