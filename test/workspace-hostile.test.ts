import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, startServer, type WsClient, rpcError } from './helpers/server.js';

/** Names that are members of Object.prototype (or set it): they must be plain data. */
const PROTO_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', '__defineGetter__'];

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function freshRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'icpy-ws-hostile-'));
  roots.push(root);
  return root;
}

async function withServer(root: string, fn: (c: WsClient) => Promise<void>): Promise<void> {
  const s = await startServer({ root });
  const c = await connect(s);
  try {
    await fn(c);
  } finally {
    await c.close();
    await s.close();
  }
}

describe('workspace: prototype-named keys are ordinary names', () => {
  it('switchLayout / deleteLayout of a prototype name that was never saved: NOT_FOUND, state untouched', async () => {
    const root = freshRoot();
    await withServer(root, async (c) => {
      await c.call('workspace.setLayout', { layout: { panel: 'left' }, expectedVersion: 0 });
      await c.call('workspace.saveLayout', { name: 'real' });
      const before = (await c.call('workspace.get', {})).state;
      for (const name of PROTO_NAMES) {
        const sw = await rpcError(c.call('workspace.switchLayout', { name }));
        expect(sw.data, `switchLayout ${name}`).toMatchObject({ code: 'NOT_FOUND', name, saved: ['real'] });
        const del = await rpcError(c.call('workspace.deleteLayout', { name }));
        expect(del.data, `deleteLayout ${name}`).toMatchObject({ code: 'NOT_FOUND', name });
      }
      const after = (await c.call('workspace.get', {})).state;
      expect(after.layout).toEqual(before.layout);
      expect(after.layouts).toEqual(before.layouts);
    });
    await withServer(root, async (c) => {
      const { state } = await c.call('workspace.get', {});
      expect(state.layouts.value).toEqual({ real: { panel: 'left' } });
      expect(state.layout.value).toEqual({ name: null, layout: { panel: 'left' } });
    });
  });

  it('saves, switches to and deletes layouts named like prototype members; they survive a restart', async () => {
    const root = freshRoot();
    await withServer(root, async (c) => {
      let v = 0;
      for (const name of PROTO_NAMES) {
        v = (await c.call('workspace.setLayout', { layout: { for: name }, expectedVersion: v })).version;
        expect(await c.call('workspace.saveLayout', { name })).toMatchObject({ name, layout: { for: name } });
      }
      for (const name of PROTO_NAMES) {
        const sw = await c.call('workspace.switchLayout', { name });
        expect(sw).toMatchObject({ name, layout: { for: name } });
        v = sw.version;
      }
      const { state } = await c.call('workspace.get', {});
      expect(Object.keys(state.layouts.value).sort()).toEqual([...PROTO_NAMES].sort());
      expect(Object.getOwnPropertyDescriptor(state.layouts.value, '__proto__')?.value).toEqual({ for: '__proto__' });
      // Deleting one leaves the others alone.
      expect(await c.call('workspace.deleteLayout', { name: 'toString' })).toMatchObject({ name: 'toString', wasCurrent: false });
    });
    await withServer(root, async (c) => {
      const { state } = await c.call('workspace.get', {});
      const expected = PROTO_NAMES.filter((n) => n !== 'toString');
      expect(Object.keys(state.layouts.value).sort()).toEqual(expected.sort());
      for (const name of expected) expect(Object.getOwnPropertyDescriptor(state.layouts.value, name)?.value).toEqual({ for: name });
      expect(state.layout.value).toEqual({ name: '__defineGetter__', layout: { for: '__defineGetter__' } });
      expect((await c.call('workspace.switchLayout', { name: '__proto__' })).layout).toEqual({ for: '__proto__' });
      await rpcError(c.call('workspace.switchLayout', { name: 'toString' }));
    });
  });

  it('preference keys named like prototype members are stored, removed and reloaded as plain keys; __proto__ is refused', async () => {
    const root = freshRoot();
    const names = PROTO_NAMES.filter((n) => n !== '__proto__');
    await withServer(root, async (c) => {
      const set = await c.call('workspace.setPreferences', { values: Object.fromEntries(names.map((n) => [n, `v-${n}`])) });
      for (const n of names) expect(Object.getOwnPropertyDescriptor(set.versions, n)?.value).toBe(1);
      await c.call('workspace.setPreferences', { values: { hasOwnProperty: null } });
      // `__proto__` would be dropped by JSON-object parsers; it is refused, naming the key.
      const bad = await rpcError(c.call('workspace.setPreferences', { values: JSON.parse('{"__proto__": 1, "ok": 2}') }));
      expect(bad.data).toMatchObject({ code: 'INVALID_PARAMS', field: 'values.__proto__' });
      const { state } = await c.call('workspace.get', {});
      expect(state.preferences.ok).toBeUndefined();
    });
    await withServer(root, async (c) => {
      const { state } = await c.call('workspace.get', {});
      const kept = names.filter((n) => n !== 'hasOwnProperty');
      expect(Object.keys(state.preferences).sort()).toEqual(kept.sort());
      for (const n of kept) expect(Object.getOwnPropertyDescriptor(state.preferences, n)?.value).toMatchObject({ value: `v-${n}`, version: 1 });
    });
  });

  it('editor paths, cursors and terminals named like prototype members are ordinary entries', async () => {
    const root = freshRoot();
    await withServer(root, async (c) => {
      for (const name of PROTO_NAMES) await c.call('workspace.openFile', { path: name });
      await c.call('workspace.reorderFiles', { paths: [...PROTO_NAMES].reverse() });
      await c.call('workspace.setActive', { path: 'constructor' });
      await c.call('workspace.closeFile', { path: '__proto__' });
      const notOpen = await rpcError(c.call('workspace.closeFile', { path: '__proto__' }));
      expect(notOpen.data.code).toBe('NOT_FOUND');
      await c.call('workspace.setCursor', { path: 'toString', line: 1, column: 1 });
      await c.call('workspace.setTerminals', { terminals: ['constructor', '__proto__'] });
    });
    await withServer(root, async (c) => {
      const { state } = await c.call('workspace.get', {});
      expect(state.editors.value.open.map((e: { path: string }) => e.path)).toEqual([...PROTO_NAMES].reverse().filter((n) => n !== '__proto__'));
      expect(state.editors.value.active).toBe('constructor');
      expect(state.terminals.value).toEqual(['constructor', '__proto__']);
    });
  });

  it('a layout whose top-level key is __proto__ is refused rather than silently emptied', async () => {
    const root = freshRoot();
    await withServer(root, async (c) => {
      const bad = await rpcError(c.call('workspace.setLayout', { layout: JSON.parse('{"__proto__": {"x": 1}}'), expectedVersion: 0 }));
      expect(bad.data).toMatchObject({ code: 'INVALID_PARAMS', field: 'layout.__proto__' });
      // Nested keys are opaque data and kept as given.
      const ok = await c.call('workspace.setLayout', { layout: JSON.parse('{"panels": {"__proto__": {"x": 1}, "constructor": 2}}'), expectedVersion: 0 });
      expect(JSON.stringify(ok.layout)).toBe('{"panels":{"__proto__":{"x":1},"constructor":2}}');
    });
  });
});

describe('workspace: bad names and keys are INVALID_PARAMS naming the field', () => {
  const long = 'é'.repeat(128); // 128 characters, 256 UTF-8 bytes
  const cases: { what: string; method: string; params: Record<string, unknown>; field: string | RegExp }[] = [
    { what: 'layout name over 255 bytes', method: 'workspace.saveLayout', params: { name: long }, field: 'name' },
    { what: 'layout name of 300 ASCII characters', method: 'workspace.switchLayout', params: { name: 'x'.repeat(300) }, field: 'name' },
    { what: 'empty layout name', method: 'workspace.deleteLayout', params: { name: '' }, field: 'name' },
    { what: 'layout name with a newline', method: 'workspace.saveLayout', params: { name: 'a\nb' }, field: 'name' },
    { what: 'layout name with ESC', method: 'workspace.saveLayout', params: { name: 'a\u001b[2Jb' }, field: 'name' },
    { what: 'layout name with a NUL', method: 'workspace.saveLayout', params: { name: 'a\u0000' }, field: 'name' },
    { what: 'layout name with a lone surrogate', method: 'workspace.saveLayout', params: { name: 'a\ud800' }, field: 'name' },
    { what: 'preference key over 255 bytes', method: 'workspace.setPreferences', params: { values: { [long]: 1 } }, field: `values.${long}` },
    { what: 'empty preference key', method: 'workspace.setPreferences', params: { values: { '': 1 } }, field: 'values.' },
    { what: 'preference key with a control character', method: 'workspace.setPreferences', params: { values: { 'a\tb': 1 } }, field: 'values.a\tb' },
    { what: 'path with a NUL', method: 'workspace.openFile', params: { path: 'a\u0000b' }, field: 'path' },
    { what: 'path segment over 255 bytes', method: 'workspace.openFile', params: { path: `src/${long}` }, field: 'path' },
    { what: 'cursor path segment over 255 bytes', method: 'workspace.setCursor', params: { path: long, line: 1, column: 1 }, field: 'path' },
    { what: 'huge line number', method: 'workspace.openFile', params: { path: 'a', line: 1e300 }, field: 'line' },
    { what: 'non-integer column', method: 'workspace.setCursor', params: { path: 'a', line: 1, column: 1.5 }, field: 'column' },
    { what: 'negative expectedVersion', method: 'workspace.setLayout', params: { layout: {}, expectedVersion: -1 }, field: 'expectedVersion' },
    { what: 'layout not an object', method: 'workspace.setLayout', params: { layout: [1], expectedVersion: 0 }, field: 'layout' },
    { what: 'empty terminal id', method: 'workspace.setTerminals', params: { terminals: [''] }, field: 'terminals.0' },
  ];

  it('over WebSocket and HTTP, each case answers -32602 with data.field, never -32603', async () => {
    const s = await startServer();
    const c = await connect(s);
    try {
      for (const k of cases) {
        for (const call of [(m: string, p: unknown) => c.call(m, p), (m: string, p: unknown) => s.call(m, p)]) {
          const err = await rpcError(call(k.method, k.params));
          expect(err.code, k.what).toBe(-32602);
          expect(err.data.code, k.what).toBe('INVALID_PARAMS');
          expect(err.data.field, k.what).toBe(k.field);
        }
      }
      // Nothing was stored by the refused calls.
      const { state } = await c.call('workspace.get', {});
      expect(state.layouts.value).toEqual({});
      expect(state.preferences).toEqual({});
      expect(state.editors.value.open).toEqual([]);
      // A 255-byte name is fine.
      const ok = 'é'.repeat(127) + 'x';
      expect((await c.call('workspace.saveLayout', { name: ok })).name).toBe(ok);
    } finally {
      await c.close();
      await s.close();
    }
  });
});

describe('workspace: deleting the current layout', () => {
  it('the current layout becomes unnamed (panels kept), workspace.layout.changed says so, and it persists', async () => {
    const root = freshRoot();
    await withServer(root, async (c) => {
      await c.call('events.subscribe', { patterns: ['workspace.layout.*'] });
      await c.call('workspace.setLayout', { layout: { sidebar: 300 }, expectedVersion: 0 });
      await c.call('workspace.saveLayout', { name: 'wide' });
      await c.call('workspace.saveLayout', { name: 'other' });
      const sw = await c.call('workspace.switchLayout', { name: 'wide' });
      const del = await c.call('workspace.deleteLayout', { name: 'wide' });
      expect(del).toMatchObject({ name: 'wide', wasCurrent: true });
      const changed = await c.waitFor(() => c.events().find((e) => e.topic === 'workspace.layout.changed' && e.data.version > sw.version), 5000, 'layout.changed');
      expect(changed.data).toEqual({ name: null, layout: { sidebar: 300 }, version: sw.version + 1 });
      const deleted = c.events().find((e) => e.topic === 'workspace.layout.deleted')!;
      expect(deleted.seq).toBeLessThan(changed.seq);
      const { state } = await c.call('workspace.get', {});
      expect(state.layout).toMatchObject({ version: sw.version + 1, value: { name: null, layout: { sidebar: 300 } } });
      // Deleting a layout that is not current leaves the current one alone.
      await c.call('workspace.switchLayout', { name: 'other' });
      await c.call('workspace.saveLayout', { name: 'third' });
      expect(await c.call('workspace.deleteLayout', { name: 'third' })).toMatchObject({ wasCurrent: false });
      expect((await c.call('workspace.get', {})).state.layout.value.name).toBe('other');
      await c.call('workspace.deleteLayout', { name: 'other' });
    });
    await withServer(root, async (c) => {
      const { state } = await c.call('workspace.get', {});
      expect(state.layout.value).toEqual({ name: null, layout: { sidebar: 300 } });
      expect(state.layouts.value).toEqual({});
    });
  });
});
