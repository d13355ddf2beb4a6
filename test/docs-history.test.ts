import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, rpcError, startServer, type TestServer, type WsClient } from './helpers/server.js';
import { until } from './helpers/until.js';

const roots: string[] = [];
/** Closed at the end even when a test fails half-way (no leaked sockets). */
const open: { close(): Promise<void> }[] = [];
afterAll(async () => {
  for (const o of open.reverse()) await o.close();
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});
async function server(config: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
  const s = await startServer(config);
  open.push(s);
  return s;
}
async function client(s: TestServer, o: Parameters<typeof connect>[1]): Promise<WsClient> {
  const c = await connect(s, o);
  open.push(c);
  return c;
}

/** Replace the whole text of a live document through docs.applyEdits (an agent's edit). */
async function setText(c: Pick<WsClient, 'call'>, path: string, text: string): Promise<void> {
  const cur = (await c.call('docs.get', { path })) as { text: string; version: number };
  const lines = cur.text.split(/\r\n|\r|\n/);
  const end = { line: lines.length - 1, character: lines[lines.length - 1]!.length };
  await c.call('docs.applyEdits', { path, edits: [{ range: { start: { line: 0, character: 0 }, end }, text }], baseVersion: cur.version });
}

async function edit(c: Pick<WsClient, 'call'>, path: string, text: string): Promise<void> {
  await setText(c, path, text);
  await c.call('docs.save', { path });
}

const versionsOf = async (c: Pick<WsClient, 'call'>, path: string) =>
  ((await c.call('docs.history', { path })) as { versions: { version: number; label?: string; name?: string; author: { name: string } }[] }).versions;

describe('docs history: versions, diff, restore, checkpoints', () => {
  let s: TestServer;
  let agent: WsClient;

  it('records every save (and the text as opened), diffs, and restores as a new version without losing any', async () => {
    // Only explicit saves (no autosave timer racing the assertions on a loaded machine).
    s = await server({ docs: { saveDebounceMs: 600_000, saveMaxDelayMs: 600_000 } });
    roots.push(s.root);
    agent = await client(s, { kind: 'agent', name: 'fixer' });
    await agent.call('files.write', { path: 'notes.txt', content: 'hello\n' });
    await edit(agent, 'notes.txt', 'hello world\n');
    await edit(agent, 'notes.txt', 'hello world\nsecond line\n');
    // The same text saved again is not a new version.
    await agent.call('docs.save', { path: 'notes.txt' });
    let vs = await versionsOf(agent, 'notes.txt');
    expect(vs.map((v) => v.version)).toEqual([3, 2, 1]);
    expect(vs[2]).toMatchObject({ label: 'opened from disk', author: { name: 'icpy' } });
    expect(vs[0]).toMatchObject({ author: { name: 'fixer' } });
    expect(vs[0]).not.toHaveProperty('content');

    const v1 = await agent.call('docs.version', { path: 'notes.txt', version: 1 });
    expect(v1).toMatchObject({ version: 1, content: 'hello\n', size: 6 });

    const d = await agent.call('docs.diff', { path: 'notes.txt', from: 1, to: 3 });
    expect(d.identical).toBe(false);
    expect(d.diff).toContain('--- a/notes.txt\tv1');
    expect(d.diff).toContain('+++ b/notes.txt\tv3');
    expect(d.diff).toContain('-hello\n+hello world\n+second line\n');
    expect((await agent.call('docs.diff', { path: 'notes.txt', from: 3 })).identical).toBe(true);

    const r = await agent.call('docs.restore', { path: 'notes.txt', version: 1 });
    expect(r).toMatchObject({ path: 'notes.txt', version: 4, restoredFrom: 1 });
    expect(readFileSync(join(s.root, 'notes.txt'), 'utf8')).toBe('hello\n');
    expect((await agent.call('docs.get', { path: 'notes.txt' })).text).toBe('hello\n');
    vs = await versionsOf(agent, 'notes.txt');
    // Non-destructive: v2 and v3 are still there, the restore is v4.
    expect(vs.map((v) => v.version)).toEqual([4, 3, 2, 1]);
    expect(vs[0]).toMatchObject({ label: 'restored from v1', author: { name: 'fixer' } });
    expect((await agent.call('docs.version', { path: 'notes.txt', version: 3 })).content).toBe('hello world\nsecond line\n');

    // Restoring the text the file already has still records the restore.
    expect(await agent.call('docs.restore', { path: 'notes.txt', version: 4 })).toMatchObject({ version: 5, restoredFrom: 4 });

    const nf = await rpcError(agent.call('docs.version', { path: 'notes.txt', version: 99 }));
    expect(nf.data).toMatchObject({ code: 'VERSION_NOT_FOUND', version: 99 });
    expect((await rpcError(agent.call('docs.restore', { path: 'notes.txt', version: 99 }))).data.code).toBe('VERSION_NOT_FOUND');
    expect((await rpcError(agent.call('docs.diff', { path: 'notes.txt', from: 99 }))).data.code).toBe('VERSION_NOT_FOUND');
    expect((await rpcError(agent.call('docs.history', { path: '../outside.txt' }))).data.code).toBe('PATH_OUTSIDE_WORKSPACE');
  });

  it('a document only looked at records nothing; the text it was opened with is recorded at its first change, a merge from disk included', async () => {
    const srv = await server({ docs: { saveDebounceMs: 600_000, saveMaxDelayMs: 600_000 } });
    roots.push(srv.root);
    const c = await client(srv, { kind: 'cli', name: 'viewer' });
    await c.call('files.write', { path: 'seen.txt', content: 'just looking\n' });
    await c.call('docs.open', { path: 'seen.txt' });
    expect((await c.call('docs.get', { path: 'seen.txt' })).text).toBe('just looking\n');
    expect(await versionsOf(c, 'seen.txt')).toEqual([]);
    // Another program rewrites the file: the merge is the first change, and the text before it is kept.
    writeFileSync(join(srv.root, 'seen.txt'), 'changed on disk\n');
    await until(async () => (await c.call('docs.get', { path: 'seen.txt' })).text === 'changed on disk\n', 'merged from disk');
    const vs = await versionsOf(c, 'seen.txt');
    expect(vs.at(-1)).toMatchObject({ version: 1, label: 'opened from disk', author: { name: 'icpy' } });
    expect((await c.call('docs.version', { path: 'seen.txt', version: 1 })).content).toBe('just looking\n');
  });

  it('restore reaches the live text of a document that has unsaved typing, and keeps that typing as a version', async () => {
    // Held open (as an editor would), so the typing stays unsaved until the restore.
    await agent.call('docs.open', { path: 'notes.txt' });
    await setText(agent, 'notes.txt', 'unsaved typing\n');
    const before = (await versionsOf(agent, 'notes.txt'))[0]!.version;
    const r = await agent.call('docs.restore', { path: 'notes.txt', version: 2 });
    expect((await agent.call('docs.get', { path: 'notes.txt' })).text).toBe('hello world\n');
    const vs = await versionsOf(agent, 'notes.txt');
    expect(r.version).toBe(before + 2);
    expect((await agent.call('docs.version', { path: 'notes.txt', version: before + 1 })).content).toBe('unsaved typing\n');
    expect(vs[0]).toMatchObject({ version: before + 2, label: 'restored from v2' });
    await agent.call('docs.close', { path: 'notes.txt' });
  });

  it('checkpoint names the newest version when it holds the text, else records a named one', async () => {
    const newest = (await versionsOf(agent, 'notes.txt'))[0]!.version;
    const cp = await agent.call('docs.checkpoint', { path: 'notes.txt', name: 'before refactor' });
    expect(cp).toMatchObject({ version: newest, name: 'before refactor' });
    await setText(agent, 'notes.txt', 'refactored\n');
    const cp2 = await agent.call('docs.checkpoint', { path: 'notes.txt', name: 'after' });
    expect(cp2).toMatchObject({ version: newest + 1, name: 'after' });
    expect((await agent.call('docs.version', { path: 'notes.txt', version: newest + 1 })).content).toBe('refactored\n');
    expect((await rpcError(agent.call('docs.checkpoint', { path: 'notes.txt', name: 'x'.repeat(101) }))).data).toMatchObject({ code: 'INVALID_PARAMS', field: 'name' });
  });

  it('pages with limit / before → nextBefore', async () => {
    const all = await versionsOf(agent, 'notes.txt');
    const p1 = await agent.call('docs.history', { path: 'notes.txt', limit: 2 });
    expect(p1.versions.map((v: { version: number }) => v.version)).toEqual(all.slice(0, 2).map((v) => v.version));
    const p2 = await agent.call('docs.history', { path: 'notes.txt', limit: 100, before: p1.nextBefore });
    expect(p2.nextBefore).toBeUndefined();
    expect([...p1.versions, ...p2.versions].map((v: { version: number }) => v.version)).toEqual(all.map((v) => v.version));
    await agent.close();
    await s.close();
  });

  it('retention keeps docs.historyMaxVersions per file: oldest unnamed first, checkpoints last', async () => {
    const srv = await server({ docs: { historyMaxVersions: 3 } });
    roots.push(srv.root);
    const c = await client(srv, { kind: 'cli', name: 'cli' });
    await c.call('files.write', { path: 'r.txt', content: 'v1' });
    await c.call('docs.checkpoint', { path: 'r.txt', name: 'start' }); // names v1 (opened from disk)
    for (let i = 2; i <= 6; i++) await edit(c, 'r.txt', `v${i}`);
    const vs = await versionsOf(c, 'r.txt');
    expect(vs.map((v) => v.version)).toEqual([6, 5, 1]);
    expect(vs[2]).toMatchObject({ name: 'start' });
    expect((await c.call('docs.version', { path: 'r.txt', version: 1 })).content).toBe('v1');
    await c.close();
    await srv.close();
  });

  it('versions survive a restart of the app on the same root', async () => {
    const root = mkdtempSync(join(tmpdir(), 'icpy-hist-restart-'));
    roots.push(root);
    const first = await server({ root });
    const c = await client(first, { kind: 'browser', name: 'ada' });
    await c.call('files.write', { path: 'keep.py', content: 'print(1)\n' });
    await edit(c, 'keep.py', 'print(2)\n');
    await c.call('docs.checkpoint', { path: 'keep.py', name: 'two' });
    const before = await versionsOf(c, 'keep.py');
    await c.close();
    await first.close();

    const second = await server({ root });
    const d = await client(second, { kind: 'cli', name: 'later' });
    expect(await versionsOf(d, 'keep.py')).toEqual(before);
    expect((await d.call('docs.version', { path: 'keep.py', version: 2 })).content).toBe('print(2)\n');
    // Numbering continues after the restart.
    await edit(d, 'keep.py', 'print(3)\n');
    expect((await versionsOf(d, 'keep.py'))[0]!.version).toBe(before[0]!.version + 1);
    await d.close();
    await second.close();
  });
});
