import { describe, expect, it } from 'vitest';
import { applyContentChanges, offsetOf, positionOf, RawChangeError, singleEdit } from './raw-text.js';

function applyEdit(text: string, edit: ReturnType<typeof singleEdit>): string {
  if (!edit) return text;
  return text.slice(0, offsetOf(text, edit.range.start)) + edit.text + text.slice(offsetOf(text, edit.range.end));
}

describe('raw LSP text changes', () => {
  it('applies contentChanges one after the other (each against the previous result)', () => {
    // The second range is only right after the first change: sequential, not TextEdit[] semantics.
    const out = applyContentChanges('abc\ndef', [
      { range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: 'XY\n' },
      { range: { start: { line: 1, character: 0 }, end: { line: 1, character: 1 } }, text: 'A' },
    ]);
    expect(out).toBe('XY\nAbc\ndef');
  });

  it('takes a change without a range as the whole text, and clamps positions past a line end', () => {
    expect(applyContentChanges('old', [{ text: 'new\ntext' }, { range: { start: { line: 0, character: 99 }, end: { line: 5, character: 0 } }, text: '!' }])).toBe('new!');
  });

  it('rejects malformed changes', () => {
    expect(() => applyContentChanges('a', {})).toThrow(RawChangeError);
    expect(() => applyContentChanges('a', [{ range: { start: { line: -1, character: 0 }, end: { line: 0, character: 0 } }, text: '' }])).toThrow(RawChangeError);
    expect(() => applyContentChanges('a', [{ range: { start: { line: 0, character: 1 }, end: { line: 0, character: 0 } }, text: '' }])).toThrow(RawChangeError);
    expect(() => applyContentChanges('a', [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } } }])).toThrow(RawChangeError);
  });

  it('counts positions in UTF-16 with \\r\\n, \\r and \\n line ends', () => {
    const text = 'a😀b\r\nc\rd\ne';
    expect(offsetOf(text, { line: 0, character: 3 })).toBe(3);
    expect(offsetOf(text, { line: 1, character: 0 })).toBe(6);
    expect(offsetOf(text, { line: 2, character: 1 })).toBe(9);
    expect(offsetOf(text, { line: 3, character: 0 })).toBe(10);
    for (let i = 0; i <= text.length; i++) {
      if (i === 5) continue; // between \r and \n: not a position of its own
      expect(offsetOf(text, positionOf(text, i))).toBe(i);
    }
  });

  it('turns any before/after pair into one edit that reproduces after', () => {
    const pairs: [string, string][] = [
      ['hello world', 'hello brave world'],
      ['abc', ''],
      ['', 'abc'],
      ['aaaa', 'aa'],
      ['x😀y', 'x😁y'],
      ['line1\r\nline2', 'line1\nline2'],
      ['a\r\nb', 'a\r\r\nb'],
      ['console.\n', 'console.l\n'],
    ];
    for (const [before, after] of pairs) expect(applyEdit(before, singleEdit(before, after))).toBe(after);
    expect(singleEdit('same', 'same')).toBeUndefined();
    const edit = singleEdit('x😀y', 'x😁y')!;
    expect(edit.text).toBe('😁'); // never half a surrogate pair
  });
});
