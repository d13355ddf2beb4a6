import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, RpcError, startServer } from './helpers/server.js';

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

describe('workspace state', () => {
  it('a second client sees workspace.file.opened from the first, with the opener as source', async () => {
    const s = await startServer();
    const a = await connect(s, { kind: 'cli', name: 'icpy-cli' });
    const b = await connect(s, { kind: 'browser', name: 'tab' });
    await b.call('events.subscribe', { patterns: ['workspace.**'] });
    const res = await a.call('workspace.openFile', { path: './src/main.py', line: 12, column: 3 });
    expect(res).toMatchObject({ path: 'src/main.py', line: 12, index: 0, alreadyOpen: false, active: 'src/main.py' });
    const ev = await b.waitFor(() => b.events().find((e) => e.topic === 'workspace.file.opened'), 5000, 'opened');
    expect(ev.data).toMatchObject({ path: 'src/main.py', line: 12, column: 3 });
    expect(ev.source).toMatchObject({ kind: 'cli', name: 'icpy-cli' });
    const err = await a.call('workspace.openFile', { path: '../etc/passwd' }).catch((e) => e);
    expect(err.data.code).toBe('PATH_OUTSIDE_WORKSPACE');
    // Positions are 1-based: line 0 is refused, naming the field.
    await expect(a.call('workspace.openFile', { path: 'x.py', line: 0 })).rejects.toMatchObject({ code: -32602, data: { field: 'line' } });
    await a.close();
    await b.close();
    await s.close();
  });

  it('edits editors, layouts, terminals and preferences with past-tense events and merge policies', async () => {
    const s = await startServer();
    const c = await connect(s, { kind: 'browser', name: 'alice' });
    await c.call('events.subscribe', { patterns: ['workspace.**'] });
    for (const p of ['a.ts', 'b.ts', 'c.ts']) await c.call('workspace.openFile', { path: p });
    await c.call('workspace.reorderFiles', { paths: ['c.ts', 'a.ts', 'b.ts'] });
    expect((await c.call('workspace.reorderFiles', { paths: ['c.ts'] }).catch((e: RpcError) => e)).data.code).toBe('INVALID_PARAMS');
    await c.call('workspace.setActive', { path: 'a.ts' });
    const closed = await c.call('workspace.closeFile', { path: 'a.ts' });
    expect(closed.active).toBe('b.ts');
    await c.call('workspace.setCursor', { path: 'b.ts', line: 4, column: 2, selections: [{ start: { line: 4, column: 1 }, end: { line: 4, column: 2 } }] });

    // layout: reject-on-stale
    const l1 = await c.call('workspace.setLayout', { layout: { sidebar: { visible: true, width: 240 } }, expectedVersion: 0 });
    expect(l1.version).toBe(1);
    const stale = await c.call('workspace.setLayout', { layout: { sidebar: { visible: false } }, expectedVersion: 0 }).catch((e: RpcError) => e);
    expect(stale.data).toMatchObject({ code: 'VERSION_CONFLICT', currentVersion: 1, current: { layout: { sidebar: { visible: true, width: 240 } } } });
    await c.call('workspace.saveLayout', { name: 'wide' });
    await c.call('workspace.setLayout', { layout: { sidebar: { visible: false } }, expectedVersion: 1 });
    const sw = await c.call('workspace.switchLayout', { name: 'wide' });
    expect(sw).toMatchObject({ name: 'wide', layout: { sidebar: { width: 240 } } });
    await c.call('workspace.setTerminals', { terminals: ['t1', 't2'] });
    await c.call('workspace.setPreferences', { values: { theme: 'dark', 'editor.fontSize': 14 } });
    await c.call('workspace.setPreferences', { values: { theme: 'light' } });

    const { state } = await c.call('workspace.get', {});
    expect(state.editors.value.open.map((e: any) => e.path)).toEqual(['c.ts', 'b.ts']);
    expect(state.editors.value.active).toBe('b.ts');
    expect(state.editors.updatedBy).toMatchObject({ kind: 'browser', name: 'alice' });
    expect(state.layout.value).toMatchObject({ name: 'wide' });
    expect(state.terminals.value).toEqual(['t1', 't2']);
    expect(state.preferences.theme).toMatchObject({ value: 'light', version: 2, updatedBy: { name: 'alice' } });
    expect(state.preferences['editor.fontSize'].value).toBe(14);
    const me = await c.call('connections.whoami', {});
    expect(state.cursors[me.id]).toMatchObject({ path: 'b.ts', line: 4, column: 2 });

    const topics = new Set(c.events().map((e) => e.topic));
    for (const t of [
      'workspace.file.opened',
      'workspace.files.reordered',
      'workspace.file.activated',
      'workspace.file.closed',
      'workspace.cursor.moved',
      'workspace.layout.changed',
      'workspace.layout.saved',
      'workspace.layout.switched',
      'workspace.terminals.changed',
      'workspace.preferences.changed',
    ])
      expect(topics).toContain(t);
    await c.close();
    await s.close();
  });

  it('snapshot seq + events.subscribe since has no gap and no duplicate', async () => {
    const s = await startServer();
    const writer = await connect(s, { name: 'writer' });
    const reader = await connect(s, { name: 'reader' });
    let stop = false;
    let n = 0;
    const pump = (async () => {
      while (!stop) await writer.call('workspace.openFile', { path: `f${n++ % 50}.txt` });
    })();
    await new Promise((r) => setTimeout(r, 50));
    const snap = await reader.call('workspace.get', {});
    await reader.call('events.subscribe', { patterns: ['workspace.**'], since: snap.seq });
    await new Promise((r) => setTimeout(r, 50));
    stop = true;
    await pump;
    const final = await writer.call('workspace.get', {});
    await reader.waitFor(() => reader.events().some((e) => e.seq >= final.seq) || final.seq === snap.seq, 5000, 'catch up');
    const evs = reader.events();
    // Apply events to the snapshot's version: each editors event bumps the version by exactly one.
    let v = snap.state.editors.version;
    for (const e of evs) {
      expect(e.seq).toBeGreaterThan(snap.seq);
      expect(e.data.version).toBe(v + 1);
      v = e.data.version;
    }
    expect(new Set(evs.map((e) => e.seq)).size).toBe(evs.length);
    expect(v).toBe(final.state.editors.version);
    await writer.close();
    await reader.close();
    await s.close();
  });

  it('survives a server restart on the same root', async () => {
    const root = mkdtempSync(join(tmpdir(), 'icpy-ws-restart-'));
    roots.push(root);
    let s = await startServer({ root });
    let c = await connect(s);
    await c.call('workspace.openFile', { path: 'one.md' });
    await c.call('workspace.openFile', { path: 'two.md' });
    await c.call('workspace.setActive', { path: 'one.md' });
    await c.call('workspace.setLayout', { layout: { panel: 'bottom' }, expectedVersion: 0 });
    await c.call('workspace.saveLayout', { name: 'mine' });
    await c.call('workspace.setPreferences', { values: { theme: 'dark' } });
    await c.close();
    await s.close();
    expect(existsSync(join(root, '.icpy/state.db'))).toBe(true);

    s = await startServer({ root });
    c = await connect(s);
    const { state } = await c.call('workspace.get', {});
    expect(state.editors.value.open.map((e: any) => e.path)).toEqual(['one.md', 'two.md']);
    expect(state.editors.value.active).toBe('one.md');
    expect(state.layout).toMatchObject({ version: 1, value: { layout: { panel: 'bottom' } } });
    expect(state.layouts.value).toEqual({ mine: { panel: 'bottom' } });
    expect(state.preferences.theme.value).toBe('dark');
    // reject-on-stale continues from the persisted version
    await c.call('workspace.setLayout', { layout: { panel: 'right' }, expectedVersion: 1 });
    await c.close();
    await s.close();
  });
});
