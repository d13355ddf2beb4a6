import { describe, expect, it } from 'vitest';
import { ScrollbackBuffer } from './scrollback-buffer.js';

describe('ScrollbackBuffer', () => {
  it('addresses output by absolute byte offsets', () => {
    const b = new ScrollbackBuffer(1024);
    b.append('héllo ');
    b.append('world');
    expect(b.start).toBe(0);
    expect(b.end).toBe(Buffer.byteLength('héllo world'));
    expect(b.read(0)).toEqual({ offset: 0, data: 'héllo world', end: b.end });
    expect(b.read(Buffer.byteLength('héllo ')).data).toBe('world');
    expect(b.read(b.end)).toEqual({ offset: b.end, data: '', end: b.end });
  });

  it('moves an offset inside a character forward to the next character', () => {
    const b = new ScrollbackBuffer(1024);
    b.append('a€b');
    const r = b.read(2); // inside the 3-byte '€'
    expect(r).toEqual({ offset: 4, data: 'b', end: 5 });
  });

  it('keeps at most its capacity, cutting at a character boundary', () => {
    const b = new ScrollbackBuffer(10);
    b.append('😀😀😀'); // 12 bytes
    expect(b.end).toBe(12);
    expect(b.size).toBeLessThanOrEqual(10);
    expect(b.start).toBe(4);
    expect(b.text()).toBe('😀😀');
    b.append('abc');
    expect(b.end).toBe(15);
    expect(b.start).toBe(8);
    expect(b.text()).toBe('😀abc');
    // Reading from before the start gives what is kept, with its true offset.
    expect(b.read(0).offset).toBe(8);
  });

  it('reads in bounded pieces that join back to the whole', () => {
    const b = new ScrollbackBuffer(1 << 20);
    let all = '';
    for (let i = 0; i < 1000; i++) {
      const s = `line ${i} ✓\n`;
      b.append(s);
      all += s;
    }
    const parts: string[] = [];
    let at = 0;
    while (at < b.end) {
      const r = b.read(at, 100);
      expect(r.offset).toBe(at);
      parts.push(r.data);
      at = r.end;
    }
    expect(parts.join('')).toBe(all);
    expect(parts.length).toBeGreaterThan(100);
  });

  it('stays bounded over a long stream of chunks', () => {
    const b = new ScrollbackBuffer(4096);
    for (let i = 0; i < 100_000; i++) b.append('x'.repeat(37));
    expect(b.size).toBeLessThanOrEqual(4096);
    expect(b.end).toBe(3_700_000);
    expect(b.read(b.start).data.length).toBe(b.size);
  });

  it('redrawStart: the start of the last N lines, or the alternate-screen switch still in effect', () => {
    const b = new ScrollbackBuffer(1 << 20);
    b.append('é1\nline2\n');
    b.append('line3\n$ ');
    const at = (n: number) => b.read(b.redrawStart(n)).data;
    expect(at(2)).toBe('line3\n$ ');
    expect(at(3)).toBe('line2\nline3\n$ ');
    expect(at(50)).toBe('é1\nline2\nline3\n$ ');
    b.append('\x1b[?1049h\x1b[Hfull screen\n1\n2\n3\n');
    expect(at(2)).toBe('\x1b[?1049h\x1b[Hfull screen\n1\n2\n3\n');
    b.append('\x1b[?1049lback\n$ ');
    expect(at(2)).toBe('\x1b[?1049lback\n$ ');
    // Bounded look-back.
    const big = new ScrollbackBuffer(1 << 20);
    big.append('x'.repeat(10_000));
    expect(big.redrawStart(5, 100)).toBe(9_900);
  });
});
