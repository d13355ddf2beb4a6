import { describe, expect, it } from 'vitest';
import { SLICE_CHARS } from '../turns.js';
import { encodeLargeJson as encodeParts, withStringSource } from './large-json.js';

/** The encoded pieces joined, as the transport's peer receives them. */
const encodeLargeJson = async (value: unknown): Promise<Buffer> => Buffer.concat(await encodeParts(value));

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

  describe('from noted source bytes (withStringSource)', () => {
    // Every ASCII control, quotes, backslashes, and 2-, 3- and 4-byte characters on every slice edge.
    let unit = '"\\/\u007f\u2028\u2029é日😀';
    for (let c = 0; c < 0x20; c++) unit += String.fromCharCode(c);
    let text = '';
    while (text.length < SLICE_CHARS * 3) text += unit;
    const bytes = Buffer.from(text, 'utf8');

    it('UTF-8: the same text as JSON.stringify of the decoded string, whatever falls on a slice edge', async () => {
      for (const shift of [0, 1, 2, 3]) {
        const b = bytes.subarray(shift === 0 ? 0 : Buffer.byteLength(unit.slice(0, shift)));
        const value = { result: withStringSource({ path: 'x', content: b.toString('utf8') }, 'content', b, 'utf8') };
        expect((await encodeLargeJson(value)).toString('utf8')).toBe(JSON.stringify(value));
      }
    });

    it('base64: the same text as JSON.stringify', async () => {
      const b = bytes.subarray(0, SLICE_CHARS * 2 + 1);
      const value = { content: b.toString('base64') };
      withStringSource(value, 'content', b, 'base64');
      expect((await encodeLargeJson(value)).toString('utf8')).toBe(JSON.stringify(value));
    });

    it('is kept by a spread copy, and ignored once the string is another one', async () => {
      const noted = withStringSource({ content: bytes.toString('utf8') }, 'content', bytes, 'utf8');
      const copy = { id: 1, ...noted };
      expect((await encodeLargeJson(copy)).toString('utf8')).toBe(JSON.stringify(copy));
      const changed = { ...noted, content: 'x' + noted.content.slice(1) }; // same length, other text
      expect((await encodeLargeJson(changed)).toString('utf8')).toBe(JSON.stringify(changed));
    });

    it('invalid UTF-8 is not noted: the decoded text (with U+FFFD) is what is encoded', async () => {
      const bad = Buffer.concat([bytes, Buffer.from([0xff, 0xc3])]);
      const value = withStringSource({ content: bad.toString('utf8') }, 'content', bad, 'utf8');
      expect((await encodeLargeJson(value)).toString('utf8')).toBe(JSON.stringify(value));
    });
  });
});
