import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, startServer, type TestServer, type WsClient } from './helpers/server.js';

/** Every path reported under `topic` so far. */
function pathsOf(c: WsClient, topic: string): string[] {
  return c
    .events()
    .filter((e) => e.topic === topic)
    .flatMap((e) => e.data.paths);
}

describe('file watcher events', () => {
  let s: TestServer;
  let c: WsClient;

  beforeAll(async () => {
    s = await startServer();
    c = await connect(s, { kind: 'agent', name: 'bot' });
    await c.call('events.subscribe', { patterns: ['fs.**'] });
  });
  afterAll(async () => {
    await c.close();
    await s.close();
  });

  it('reports a change made by another program with the disk source', async () => {
    writeFileSync(join(s.root, 'ext.txt'), 'hello');
    const ev = await c.waitFor(() => c.events().find((e) => e.topic === 'fs.file.created' && e.data.paths.includes('ext.txt')), 5000, 'fs.file.created');
    expect(ev.source).toEqual({ connectionId: 'disk', kind: 'system', name: 'disk' });
    writeFileSync(join(s.root, 'ext.txt'), 'hello again');
    const ch = await c.waitFor(() => c.events().find((e) => e.topic === 'fs.file.changed' && e.data.paths.includes('ext.txt')), 5000, 'fs.file.changed');
    expect(ch.source.name).toBe('disk');
  });

  it('attributes changes made through icpy to the connection that made them', async () => {
    const other = await connect(s, { kind: 'browser', name: 'alice' });
    const me = await other.call('connections.whoami', {});
    await other.call('files.write', { path: 'mine.txt', content: 'x' });
    const ev = await c.waitFor(() => c.events().find((e) => e.topic === 'fs.file.created' && e.data.paths.includes('mine.txt')), 5000, 'created');
    expect(ev.source).toEqual({ connectionId: me.id, kind: 'browser', name: 'alice' });
    await other.call('files.mkdir', { path: 'made/by/alice' });
    const dir = await c.waitFor(() => c.events().find((e) => e.topic === 'fs.dir.created' && e.data.paths.includes('made/by/alice')), 5000, 'dir');
    expect(dir.source.connectionId).toBe(me.id);
    await other.call('files.delete', { path: 'made', recursive: true });
    const del = await c.waitFor(() => c.events().find((e) => e.topic === 'fs.dir.deleted' && e.data.paths.includes('made')), 5000, 'dir deleted');
    expect(del.source.connectionId).toBe(me.id);
    // no event for the temp file of the atomic write
    expect(c.events().flatMap((e) => e.data.paths ?? []).some((p: string) => p.includes('.tmp'))).toBe(false);
    await other.close();
  });

  it('reports an external rename as deleted + created, and folder changes', async () => {
    writeFileSync(join(s.root, 'before.txt'), 'x');
    await c.waitFor(() => pathsOf(c, 'fs.file.created').includes('before.txt'), 5000, 'before created');
    renameSync(join(s.root, 'before.txt'), join(s.root, 'after.txt'));
    await c.waitFor(() => pathsOf(c, 'fs.file.deleted').includes('before.txt'), 5000, 'before deleted');
    await c.waitFor(() => pathsOf(c, 'fs.file.created').includes('after.txt'), 5000, 'after created');
    mkdirSync(join(s.root, 'extdir'));
    await c.waitFor(() => pathsOf(c, 'fs.dir.created').includes('extdir'), 5000, 'dir created');
    rmSync(join(s.root, 'extdir'), { recursive: true });
    await c.waitFor(() => pathsOf(c, 'fs.dir.deleted').includes('extdir'), 5000, 'dir deleted');
  });

  it('ignores .git, node_modules and .icpy', async () => {
    mkdirSync(join(s.root, '.git'), { recursive: true });
    mkdirSync(join(s.root, 'node_modules/pkg'), { recursive: true });
    writeFileSync(join(s.root, '.git/HEAD'), 'ref');
    writeFileSync(join(s.root, 'node_modules/pkg/index.js'), '1');
    writeFileSync(join(s.root, 'marker.txt'), 'x');
    await c.waitFor(() => pathsOf(c, 'fs.file.created').includes('marker.txt'), 5000, 'marker');
    const all = c.events().flatMap((e) => e.data.paths ?? []);
    expect(all.filter((p: string) => p.startsWith('.git') || p.startsWith('node_modules'))).toEqual([]);
  });

  it('delivers a 5,000-file burst as a few batched events', async () => {
    const before = c.events().length;
    mkdirSync(join(s.root, 'burst'));
    for (let i = 0; i < 5000; i++) writeFileSync(join(s.root, 'burst', `f${i}.txt`), String(i));
    const want = new Set(Array.from({ length: 5000 }, (_, i) => `burst/f${i}.txt`));
    await c.waitFor(
      () => {
        const got = new Set(c.events().slice(before).filter((e) => e.topic === 'fs.file.created' || e.topic === 'fs.file.changed').flatMap((e) => e.data.paths));
        for (const p of want) if (!got.has(p)) return false;
        return true;
      },
      15000,
      'all 5000 paths',
    );
    const events = c.events().slice(before);
    expect(events.length).toBeLessThanOrEqual(60);
    expect(Math.max(...events.map((e) => e.data.paths.length))).toBeGreaterThan(100);
  });
});
