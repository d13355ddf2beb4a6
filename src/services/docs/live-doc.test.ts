import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { applyToString, plain } from './delta.js';
import { fewItemsDelta, LiveDoc, walkDeltaForTest } from './live-doc.js';

function rng(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 16807) % 2147483647) / 2147483647;
}

describe('recordDelta', () => {
  it('the few-items delta equals the whole-text walk for random inserts, deletes and replaces from concurrent peers', () => {
    const server = new Y.Doc();
    const text = server.getText('content');
    text.insert(0, 'The quick brown fox jumps over the lazy dog.\n'.repeat(20));
    const peers = [new Y.Doc(), new Y.Doc()];
    for (const p of peers) Y.applyUpdate(p, Y.encodeStateAsUpdate(server));
    let before = text.toString();
    let fast = 0;
    let checked = 0;
    text.observe((event) => {
      const walked = walkDeltaForTest(event);
      const few = fewItemsDelta(event);
      if (few) {
        fast++;
        expect(few).toEqual(walked);
      }
      expect(applyToString(before, plain(walked))).toBe(text.toString());
      before = text.toString();
      checked++;
    });
    const random = rng(7);
    for (let round = 0; round < 300; round++) {
      // Both peers edit concurrently, then exchange through the server (as a room relays).
      const updates: Uint8Array[] = [];
      for (const p of peers) {
        const t = p.getText('content');
        const at = Math.floor(random() * (t.length + 1));
        const kind = random();
        const off = (u: Uint8Array) => updates.push(u);
        p.on('update', off);
        if (kind < 0.5 || t.length < 10) t.insert(at, `#${round};`);
        else if (kind < 0.8) t.delete(Math.min(at, t.length - 1), 1 + Math.floor(random() * Math.min(12, t.length - at)));
        else p.transact(() => (t.delete(Math.min(at, t.length - 1), 1), t.insert(Math.min(at, t.length), 'xyz')));
        p.off('update', off);
      }
      // Sometimes merged into one update (several items in one change), sometimes one by one.
      if (random() < 0.3) Y.applyUpdate(server, Y.mergeUpdates(updates));
      else for (const u of updates) Y.applyUpdate(server, u);
      for (const p of peers) Y.applyUpdate(p, Y.encodeStateAsUpdate(server, Y.encodeStateVector(p)));
    }
    expect(checked).toBeGreaterThan(300);
    expect(fast / checked).toBeGreaterThan(0.9);
  });

  it('keeps docs.applyEdits rebasing exact: since(v) gives each earlier text back', () => {
    const live = new LiveDoc('a.txt', 'hello world\n', { startVersion: 1, maxUpdateBytes: 1 << 20 });
    const peer = new Y.Doc();
    Y.applyUpdate(peer, live.encodeStateAsUpdate());
    const texts = new Map<number, string>([[live.version, live.text.toString()]]);
    const from = { connection: { id: 'p', kind: 'yjs', name: 'p' }, sendUpdate() {}, sendAwareness() {}, close() {} } as never;
    peer.on('update', (u: Uint8Array) => live.applyUpdate(u, from));
    const t = peer.getText('content');
    const random = rng(3);
    for (let i = 0; i < 100; i++) {
      const at = Math.floor(random() * (t.length + 1));
      if (random() < 0.7 || t.length < 5) t.insert(at, `<${i}>`);
      else t.delete(Math.min(at, t.length - 2), 2);
      texts.set(live.version, live.text.toString());
    }
    for (const [v, expected] of texts) expect(live.since(v)?.text).toBe(expected);
    live.destroy();
  });
});

describe('LiveDoc full state for fresh peers', () => {
  const from = { connection: { id: 'p', kind: 'yjs', name: 'p' }, sendUpdate() {}, sendAwareness() {}, close() {} } as never;
  const textOf = (update: Uint8Array) => {
    const d = new Y.Doc();
    Y.applyUpdate(d, update);
    return d.getText('content').toString();
  };

  it('encodes a large document once for consecutive fresh peers, and anew after a change', () => {
    const big = 'line of a large file\n'.repeat(4000);
    const live = new LiveDoc('big.txt', big, { startVersion: 1, maxUpdateBytes: 1 << 24 });
    const empty = Y.encodeStateVector(new Y.Doc());
    const first = live.encodeStateAsUpdate(empty);
    expect(live.encodeStateAsUpdate(empty)).toBe(first);
    expect(textOf(first)).toBe(big);
    const peer = new Y.Doc();
    Y.applyUpdate(peer, first);
    peer.on('update', (u: Uint8Array) => live.applyUpdate(u, from));
    peer.getText('content').insert(5, 'EDIT');
    const after = live.encodeStateAsUpdate(empty);
    expect(after).not.toBe(first);
    expect(textOf(after)).toBe(big.slice(0, 5) + 'EDIT' + big.slice(5));
    // A peer that has some of the document gets only what it lacks (never the kept full state).
    expect(live.encodeStateAsUpdate(Y.encodeStateVector(peer)).length).toBeLessThan(10);
    live.destroy();
  });

  it('keeps nothing for a small document', () => {
    const live = new LiveDoc('small.txt', 'hello\n', { startVersion: 1, maxUpdateBytes: 1 << 20 });
    const empty = Y.encodeStateVector(new Y.Doc());
    expect(live.encodeStateAsUpdate(empty)).not.toBe(live.encodeStateAsUpdate(empty));
    live.destroy();
  });
});
