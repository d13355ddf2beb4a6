import * as Y from 'yjs';
import { describe, expect, it } from 'vitest';
import { applyToString, transform } from './delta.js';
import { editsToDelta } from './edits.js';
import { LiveDoc } from './live-doc.js';
import { lineStarts, offsetAt } from './positions.js';
import { changeSize, diffDelta, diskMergeDelta, likeliestBase, slideInsertsRight } from './text-diff.js';

describe('diffDelta', () => {
  it('turns one text into the other with a minimal delta (also large, line-level)', () => {
    const cases: [string, string][] = [
      ['', 'abc'],
      ['abc', ''],
      ['hello world', 'hello brave world'],
      ['a😀b', 'a😃b'],
      ['x\n'.repeat(30_000), 'x\n'.repeat(10_000) + 'CHANGED\n' + 'x\n'.repeat(20_000)],
    ];
    for (const [a, b] of cases) expect(applyToString(a, diffDelta(a, b))).toBe(b);
    expect(diffDelta('hello world', 'hello brave world')).toEqual([{ retain: 6 }, { insert: 'brave ' }]);
  });
});

describe('positions (UTF-16, LSP line breaks)', () => {
  it('maps lines ended by \\n, \\r\\n and \\r; clamps characters past the line end', () => {
    const t = 'a😀\r\nb\rc\n';
    const s = lineStarts(t);
    expect(s).toEqual([0, 5, 7, 9]);
    expect(offsetAt(t, s, { line: 0, character: 3 }, 'f')).toBe(3);
    expect(offsetAt(t, s, { line: 0, character: 99 }, 'f')).toBe(3);
    expect(offsetAt(t, s, { line: 2, character: 1 }, 'f')).toBe(8);
    expect(() => offsetAt(t, s, { line: 4, character: 0 }, 'f')).toThrow(/past the last line/);
  });
});

describe('transform', () => {
  it('keeps text a concurrent writer inserted inside a range I delete', () => {
    const base = 'alpha beta gamma';
    const mine = editsToDelta(base, [{ range: { start: { line: 0, character: 6 }, end: { line: 0, character: 10 } }, text: 'B' }]);
    const theirs = diffDelta(base, 'alpha beXXta gamma');
    const merged = applyToString(applyToString(base, theirs), transform(mine, theirs));
    expect(merged).toBe('alpha XXB gamma');
  });
});

describe('LiveDoc', () => {
  it('relays updates to other peers, counts versions, and rebases old-version edits', () => {
    const live = new LiveDoc('f.txt', 'hello', { startVersion: 5, maxUpdateBytes: 1 << 20 });
    const sent: Uint8Array[] = [];
    const conn = { id: 'c1', kind: 'browser' as const, name: 'a', transport: 'ws' as const, principalId: 'owner', connectedAt: 0 };
    const peerA = { connection: conn, sendUpdate: (u: Uint8Array) => sent.push(u), sendAwareness() {}, close() {} };
    const peerB = { connection: { ...conn, id: 'c2' }, sendUpdate: (u: Uint8Array) => sent.push(u), sendAwareness() {}, close() {} };
    live.addPeer(peerA);
    live.addPeer(peerB);
    const client = new Y.Doc();
    Y.applyUpdate(client, live.encodeStateAsUpdate());
    client.getText('content').insert(5, ' world');
    live.applyUpdate(Y.encodeStateAsUpdate(client, live.encodeStateVector()), peerA);
    expect(live.text.toString()).toBe('hello world');
    expect(live.version).toBe(6);
    expect(sent.length).toBe(1); // to B only
    expect(() => live.applyUpdate(new Uint8Array([1, 2, 3, 250, 250]), peerA)).toThrow(/Malformed/);
    const at5 = live.since(5)!;
    expect(at5.text).toBe('hello');
    live.destroy();
  });
});

describe('likeliestBase', () => {
  it('picks the text another program most likely started from (fewest changed characters; first on a tie)', () => {
    const before = 'base\n';
    const ours = 'base\ntyped\n';
    expect(likeliestBase([before, ours], 'ext\nbase\ntyped\n')).toBe(ours); // read after our save
    expect(likeliestBase([before, ours], 'ext\nbase\n')).toBe(before); // read before it
    expect(likeliestBase(['ab', 'ba'], 'xx')).toBe('ab');
    expect(changeSize('hello world', 'hello brave world')).toBe(6);
  });
});

describe('diskMergeDelta', () => {
  it('applies once a change both the disk and the live document made (a saved buffer holding the unsaved typing)', () => {
    const base = '# header\nbody\n';
    const live = base + 'typed, not yet saved\n';
    const disk = '# HEADER\nbody\ntyped, not yet saved\n';
    expect(applyToString(live, diskMergeDelta(base, disk, live))).toBe(disk);
  });
  it('keeps the longer of two inserts at one point when one starts with the other (typing went on after the read)', () => {
    const base = 'a\n';
    const live = 'a\nhello world\n';
    const disk = 'A\nhello';
    expect(applyToString(live, diskMergeDelta(base, disk, live))).toBe('A\nhello world\n');
  });
  it('still keeps both sides of different concurrent changes', () => {
    const base = 'one\ntwo\nthree\n';
    const live = 'one\nTYPED\ntwo\nthree\n';
    const disk = 'one\ntwo\nthree\nEXTERNAL\n';
    expect(applyToString(live, diskMergeDelta(base, disk, live))).toBe('one\nTYPED\ntwo\nthree\nEXTERNAL\n');
  });
  it('slides inserts right only over equal text, never over a surrogate half', () => {
    expect(slideInsertsRight([{ retain: 1 }, { insert: '\nx' }, { retain: 1 }], 'a\n')).toEqual([{ retain: 2 }, { insert: 'x\n' }]);
    expect(slideInsertsRight([{ insert: '😀' }, { retain: 2 }], '😀')).toEqual([{ insert: '😀' }]);
  });
});

describe('slideInsertsRight (random)', () => {
  it('never changes what a delta produces', () => {
    // Whole characters, and lone surrogate halves too (JSON can carry them).
    const alphabet = ['a', 'b', '\n', '😀', '\ud83d', '\ude00'];
    const rnd = (n: number) => Math.floor(Math.random() * n);
    const word = (n: number) => Array.from({ length: n }, () => alphabet[rnd(alphabet.length)]).join('');
    for (let k = 0; k < 500; k++) {
      const base = word(rnd(12));
      const to = word(rnd(12));
      const d = diffDelta(base, to);
      expect(applyToString(base, slideInsertsRight(d, base))).toBe(to);
    }
  });
});
