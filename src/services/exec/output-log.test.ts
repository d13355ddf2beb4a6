import { describe, expect, it } from 'vitest';
import { OutputLog, readText } from './output-log.js';
import { incompleteTail } from './utf8-cutter.js';

describe('incompleteTail', () => {
  it('finds where an unfinished last character starts, and says the whole length when the last one is whole', () => {
    const b = Buffer.from('a€😀', 'utf8'); // 1 + 3 + 4 bytes
    expect(incompleteTail(b)).toBe(8);
    expect(incompleteTail(b.subarray(0, 7))).toBe(4);
    expect(incompleteTail(b.subarray(0, 5))).toBe(4);
    expect(incompleteTail(b.subarray(0, 3))).toBe(1);
    expect(incompleteTail(b.subarray(0, 1))).toBe(1);
    expect(incompleteTail(Buffer.alloc(0))).toBe(0);
  });
});

describe('OutputLog (Buffers)', () => {
  it('reads contiguous runs of one stream within maxBytes, packing small writes, and resumes inside a chunk at a character start', () => {
    const log = new OutputLog(1 << 20);
    for (let i = 0; i < 100; i++) log.append('stdout', Buffer.from(`é${i}\n`));
    log.append('stderr', Buffer.from('err\n'));
    const r = log.read(0);
    expect(r.stream).toBe('stdout');
    expect(r.parts.length).toBe(1);
    expect(readText(r)).toBe(Array.from({ length: 100 }, (_, i) => `é${i}\n`).join(''));
    const e = log.read(r.end);
    expect([e.stream, readText(e)]).toEqual(['stderr', 'err\n']);
    // Offset 1 is inside 'é' (2 bytes): the read starts at the next character.
    const mid = log.read(1);
    expect(mid.offset).toBe(2);
  });

  it('cuts at the cap on a character boundary, appends the marker once, and counts the rest', () => {
    const log = new OutputLog(5);
    log.append('stdout', Buffer.from('abcd€'));
    log.append('stdout', Buffer.from('more'));
    expect(log.truncated).toBe(true);
    expect(log.text('stdout')).toBe('abcd\n[icpy: output truncated: more than 5 bytes]\n');
    expect(log.droppedBytes).toBe(3 + 4);
  });
});
