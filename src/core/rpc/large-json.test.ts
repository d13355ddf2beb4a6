import { describe, expect, it } from 'vitest';
import { SLICE_CHARS } from '../turns.js';
import { encodeLargeJson } from './large-json.js';

describe('encodeLargeJson', () => {
  it('writes the same text as JSON.stringify, slicing large strings without splitting a surrogate pair', async () => {
    // An emoji (a surrogate pair) straddling every slice edge, quotes, backslashes, controls, non-ASCII.
    const unit = 'a"b\\c\n\u0001é日';
    let big = '';
    while (big.length < SLICE_CHARS * 3) big += unit;
    big = big.slice(0, SLICE_CHARS - 1) + '😀' + big.slice(SLICE_CHARS - 1, 2 * SLICE_CHARS) + '😀' + big;
    const value = {
      jsonrpc: '2.0',
      id: 7,
      result: { path: 'x.txt', content: big, list: [1, 'two', null, { deep: [big.slice(0, 10)] }], skipped: undefined, when: new Date(0) },
    };
    const out = await encodeLargeJson(value);
    expect(out.toString('utf8')).toBe(JSON.stringify(value));
  });

  it('escapes a lone surrogate as JSON.stringify does', async () => {
    const big = 'x'.repeat(SLICE_CHARS + 10) + '\ud800' + 'y'.repeat(10);
    const out = await encodeLargeJson({ content: big });
    expect(out.toString('utf8')).toBe(JSON.stringify({ content: big }));
  });

  it('a small string that looks like a placeholder stays what it is', async () => {
    const big = 'z'.repeat(SLICE_CHARS + 1);
    const value = { a: '\u0000icpy:0', b: big, c: '\u0000' };
    expect(JSON.parse((await encodeLargeJson(value)).toString('utf8'))).toEqual(value);
  });
});
