import { describe, expect, it } from 'vitest';
import { LineIndex } from './line-index.js';

describe('LineIndex', () => {
  it('ends lines at \\n, \\r\\n and \\r (LSP), character in UTF-16 code units', () => {
    const ix = new LineIndex('a\nbb\r\nccc\rd😀e');
    expect(ix.positionAt(0)).toEqual({ line: 0, character: 0 });
    expect(ix.positionAt(2)).toEqual({ line: 1, character: 0 });
    expect(ix.positionAt(4)).toEqual({ line: 1, character: 2 });
    expect(ix.positionAt(5)).toEqual({ line: 1, character: 2 }); // between \r and \n
    expect(ix.positionAt(6)).toEqual({ line: 2, character: 0 });
    expect(ix.positionAt(10)).toEqual({ line: 3, character: 0 });
    expect(ix.positionAt(13)).toEqual({ line: 3, character: 3 }); // after the surrogate pair
    expect(ix.offsetAt({ line: 3, character: 3 })).toBe(13);
    expect(ix.offsetAt({ line: 1, character: 99 })).toBe(4); // clamped to the line's end
    expect(ix.offsetAt({ line: 99, character: 0 })).toBe(14);
    expect(ix.positionAt(999)).toEqual({ line: 3, character: 4 });
  });

  it('round-trips every offset that is not inside a \\r\\n', () => {
    const text = 'x\r\ny\n\nz\rw';
    const ix = new LineIndex(text);
    for (let o = 0; o <= text.length; o++) {
      if (text[o - 1] === '\r' && text[o] === '\n') continue;
      expect(ix.offsetAt(ix.positionAt(o))).toBe(o);
    }
  });
});
