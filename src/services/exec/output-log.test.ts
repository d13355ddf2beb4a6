import { describe, expect, it } from 'vitest';
import { OutputLog, readText } from './output-log.js';
import { Utf8Cutter } from './utf8-cutter.js';

describe('Utf8Cutter', () => {
  it('holds back a character split across reads and passes whole ones through untouched', () => {
    const c = new Utf8Cutter();
    const bytes = Buffer.from('a€😀b', 'utf8');
    const out: Buffer[] = [];
    for (let i = 0; i < bytes.length; i++) out.push(c.write(bytes.subarray(i, i + 1)));
    out.push(c.end());
    for (const o of out) expect(o.toString('utf8')).not.toContain('\uFFFD');
    expect(Buffer.concat(out).toString('utf8')).toBe('a€😀b');
  });

  it('repairs invalid UTF-8 (each bad sequence becomes U+FFFD), so offsets count what JSON clients decode', () => {
    const c = new Utf8Cutter();
    const out = Buffer.concat([c.write(Buffer.from([0x61, 0xff, 0x62, 0xe2, 0x82])), c.write(Buffer.from([0x41])), c.end()]);
    expect(out.toString('utf8')).toBe('a\uFFFDb\uFFFDA');
    expect(Buffer.from(out.toString('utf8'), 'utf8').equals(out)).toBe(true);
  });

  it('an unfinished character at the end comes out repaired', () => {
    const c = new Utf8Cutter();
    expect(c.write(Buffer.from([0x61, 0xf0, 0x9f])).toString()).toBe('a');
    expect(c.end().toString('utf8')).toBe('\uFFFD');
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
