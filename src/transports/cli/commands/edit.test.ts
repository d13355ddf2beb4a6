import { describe, expect, it } from 'vitest';
import { lineEdits, positionsOf } from './edit.js';

/** Apply LSP edits (ranges in the original text) the way the server does. */
function apply(text: string, edits: ReturnType<typeof lineEdits>): string {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n' || (text[i] === '\r' && text[i + 1] !== '\n')) starts.push(i + 1);
  const off = (p: { line: number; character: number }) => starts[p.line]! + p.character;
  let out = text;
  for (const e of [...edits].reverse()) out = out.slice(0, off(e.range.start)) + e.text + out.slice(off(e.range.end));
  return out;
}

describe('icpy edit helpers', () => {
  it('positions count UTF-16 units and end lines at \\n, \\r\\n and \\r', () => {
    const at = positionsOf('a😀b\r\nc\rd\ne');
    expect(at(3)).toEqual({ line: 0, character: 3 });
    expect(at(6)).toEqual({ line: 1, character: 0 });
    expect(at(8)).toEqual({ line: 2, character: 0 });
    expect(at(10)).toEqual({ line: 3, character: 0 });
  });

  it('lineEdits are minimal line edits that turn before into after', () => {
    const before = 'one\ntwo\nthree\nfour\nfive\n';
    const after = 'zero\none\nTWO\nthree\nfive\nsix';
    const edits = lineEdits(before, after);
    expect(apply(before, edits)).toBe(after);
    // Unchanged lines are not part of any edit.
    expect(edits.every((e) => !e.text.includes('three'))).toBe(true);
    expect(lineEdits(before, before)).toEqual([]);
  });
});
