import { fstatSync, mkdtempSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OutputFiles } from './output-files.js';
import { OutputLog, READ_BYTES, readText } from './output-log.js';

const dirs: string[] = [];
const open: OutputFiles[] = [];

/** A log over two real (unlinked) output files, as a run has them; `write` is the program. */
function setup(cap = 1 << 30) {
  const dir = mkdtempSync(join(tmpdir(), 'icpy-outfiles-'));
  dirs.push(dir);
  const log = new OutputLog(cap);
  const files = new OutputFiles(dir, () => {});
  open.push(files);
  // As a run does once its program has them open.
  files.unlink();
  log.attachFiles(files.readFds);
  const [out, err] = files.childFds;
  const write = (stream: 'stdout' | 'stderr', data: string | Buffer) => writeSync(stream === 'stdout' ? out : err, typeof data === 'string' ? Buffer.from(data) : data);
  const drain = (final = false) => files.drain(log, Infinity, final);
  return { dir, log, files, write, drain, out, err };
}

afterEach(() => {
  for (const f of open.splice(0)) f.dispose();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** readAsync until nothing is under way; resolves with the number of reads that made progress. */
function readAll(files: OutputFiles, log: OutputLog, aheadUntil = Infinity): Promise<number> {
  return new Promise((resolve) => {
    let progressed = 0;
    const next = () => {
      if (!files.readAsync(log, aheadUntil, onRead)) resolve(progressed);
    };
    const onRead = (progress: boolean) => {
      if (progress) progressed++;
      if (progress) next();
      else if (!files.readAsync(log, aheadUntil, onRead)) resolve(progressed);
    };
    next();
  });
}

describe('OutputFiles.readAsync (reads in the thread pool)', () => {
  it('reads both streams in order, a read per file at a time, and stops at an unfinished last character without reading it again', async () => {
    const { write, log, files } = setup();
    const big = 'x'.repeat(READ_BYTES - 1) + '\n';
    write('stdout', big + big + big);
    write('stderr', 'E\n');
    write('stdout', Buffer.from('€').subarray(0, 2));
    const reads = await readAll(files, log);
    expect(reads).toBeGreaterThanOrEqual(4);
    expect(log.text('stdout')).toBe(big + big + big);
    expect(log.text('stderr')).toBe('E\n');
    // The unfinished '€' is not read again until the file grows (no loop of empty reads).
    expect(files.readAsync(log, Infinity, () => {})).toBe(false);
    write('stdout', Buffer.from('€').subarray(2));
    await readAll(files, log);
    expect(log.text('stdout')).toBe(big + big + big + '€');
  });

  it('a read under way is dropped when a synchronous drain moved on meanwhile: no byte is indexed twice', async () => {
    const { write, drain, log, files } = setup();
    write('stdout', 'a'.repeat(300_000));
    let landed: boolean | undefined;
    const done = new Promise<void>((resolve) => {
      expect(files.readAsync(log, Infinity, (progress) => ((landed = progress), resolve()))).toBe(true);
    });
    // finish() reads the rest synchronously while the pool's read is still under way.
    drain(true);
    expect(log.end).toBe(300_000);
    await done;
    expect(landed).toBe(false);
    expect(log.end).toBe(300_000);
    expect(log.text('stdout')).toBe('a'.repeat(300_000));
  });

  it('disposed while a read is under way: the read lands on nothing and the descriptor is closed after it', async () => {
    const { write, log, files } = setup();
    write('stdout', 'b'.repeat(200_000));
    let called = false;
    expect(files.readAsync(log, Infinity, () => (called = true))).toBe(true);
    const fd = files.readFds.stdout;
    files.dispose();
    // Not closed yet: its number must not be reused under the pool's read.
    expect(() => fstatSync(fd)).not.toThrow();
    await new Promise((r) => setTimeout(r, 50));
    expect(called).toBe(false);
    expect(log.end).toBe(0);
    expect(() => fstatSync(fd)).toThrow();
  });

  it('past the fastest connection\'s read-ahead it waits (what it would read there is read again later), unless the backlog is large', async () => {
    const { write, log, files } = setup();
    write('stdout', 'c'.repeat(3 << 20));
    await readAll(files, log, 1 << 20);
    // One read may cross the limit, then nothing more is read while the connection is behind.
    expect(log.end).toBeGreaterThanOrEqual(1 << 20);
    expect(log.end).toBeLessThanOrEqual(2 << 20);
    await readAll(files, log);
    expect(log.end).toBe(3 << 20);
  });
});

describe('OutputFiles + OutputLog (file chunks)', () => {
  it('the files are unlinked before the program starts: nothing is left on disk to read or clean', () => {
    const { dir, write, drain, log } = setup();
    expect(readdirSync(dir)).toEqual([]);
    write('stdout', 'hello\n');
    drain();
    expect(log.text('stdout')).toBe('hello\n');
  });

  it('interleaves the streams by offset and holds back a character split across writes until its rest arrives', () => {
    const { write, drain, log } = setup();
    const euro = Buffer.from('€'); // 3 bytes
    write('stdout', Buffer.concat([Buffer.from('a'), euro.subarray(0, 2)]));
    drain();
    expect(log.end).toBe(1);
    write('stderr', 'E\n');
    drain();
    write('stdout', Buffer.concat([euro.subarray(2), Buffer.from('b\n')]));
    drain();
    expect(log.text('stdout')).toBe('a€b\n');
    expect(log.text('stderr')).toBe('E\n');
    const r0 = log.read(0);
    expect([r0.stream, readText(r0)]).toEqual(['stdout', 'a']);
    const r1 = log.read(r0.end);
    expect([r1.stream, readText(r1)]).toEqual(['stderr', 'E\n']);
    const r2 = log.read(r1.end);
    expect([r2.stream, readText(r2)]).toEqual(['stdout', '€b\n']);
  });

  it('an unfinished last character is repaired at the end, and output that is not UTF-8 is repaired, offsets counting the repaired bytes', () => {
    const { write, drain, log } = setup();
    write('stdout', Buffer.from([0x61, 0xff, 0x62]));
    write('stderr', Buffer.from([0x41, 0xf0, 0x9f]));
    drain();
    drain(true);
    expect(log.text('stdout')).toBe('a\uFFFDb');
    expect(log.text('stderr')).toBe('A\uFFFD');
    expect(log.end).toBe(Buffer.byteLength('a\uFFFDb') + Buffer.byteLength('A\uFFFD'));
  });

  it('reads back from the file what left the cache, and cuts a read inside a large chunk at a character start', () => {
    const { write, drain, log } = setup();
    // 12 MiB of 3-byte characters in one stream: far more than the 4 MiB cache.
    const line = '€'.repeat(1000) + '\n';
    const lines = Math.ceil((12 << 20) / Buffer.byteLength(line));
    for (let i = 0; i < lines; i++) write('stdout', line);
    drain();
    const total = lines * Buffer.byteLength(line);
    expect(log.end).toBe(total);
    // From the start (not cached any more), 100,000 bytes at a time: whole characters, contiguous.
    let at = 0;
    let text = '';
    while (at < total) {
      const r = log.read(at, 100_000);
      expect(r.offset).toBe(at);
      expect(r.end - r.offset).toBeLessThanOrEqual(100_000);
      const t = readText(r);
      expect(t).not.toContain('\uFFFD');
      text += t;
      at = r.end;
    }
    expect(text).toBe(line.repeat(lines));
    // An offset inside a character moves on to the next one.
    expect(log.read(1, 10).offset).toBe(3);
  });

  it('span gives the boundaries read would, without reading the bytes (cached, in the files, cut inside characters)', () => {
    const { write, drain, log } = setup();
    const line = 'a€𝄞'.repeat(300) + '\n';
    const lines = Math.ceil((6 << 20) / Buffer.byteLength(line));
    for (let i = 0; i < lines; i++) write(i % 7 === 3 ? 'stderr' : 'stdout', line);
    drain();
    for (const max of [1, 2, 5, 4095, 65_536, 100_000, 1 << 20]) {
      let at = 0;
      let n = 0;
      while (at < log.end && n++ < 200) {
        const sp = log.span(at, max);
        const r = log.read(at, max);
        expect(sp).toEqual({ stream: r.stream, offset: r.offset, end: r.end });
        at = r.end;
      }
    }
  });

  it('a buffer lent to a socket is never read over until it is given back; then it is used again', () => {
    const { write, drain, log } = setup();
    const chunk = (c: string) => c.repeat(READ_BYTES - 1) + '\n';
    write('stdout', chunk('a'));
    drain();
    const held = log.read(0, READ_BYTES).parts;
    const copy = Buffer.concat(held);
    const giveBack = log.lend(held);
    expect(log.lentBuffers).toBe(1);
    // Push it out of the cache and read far more while "a socket still holds" it.
    const seen = new Set<ArrayBufferLike>(held.map((p) => p.buffer));
    for (const c of 'bcdefghijklm') {
      write('stdout', chunk(c));
      drain();
      for (const p of log.read(log.end - READ_BYTES, READ_BYTES).parts) seen.add(p.buffer);
    }
    expect(Buffer.concat(held).equals(copy)).toBe(true);
    // Twelve more megabytes went through a few recycled buffers, none of them the lent one.
    expect(seen.size).toBeLessThan(12);
    // Given back (twice is once): nothing is lent, and every read still reads what was written.
    giveBack();
    giveBack();
    expect(log.lentBuffers).toBe(0);
    for (const c of 'nopqrstu') {
      write('stdout', chunk(c));
      drain();
    }
    expect(readText(log.read(log.end - READ_BYTES, READ_BYTES))).toBe(chunk('u'));
    expect(readText(log.read(0, READ_BYTES))).toBe(chunk('a'));
  });

  it('past the cap: the marker once, droppedBytes counts the rest, and the file is cut back so the disk holds the cap plus a bounded slack', () => {
    const cap = 1 << 20;
    const { write, drain, log, files } = setup(cap);
    const block = Buffer.alloc(1 << 20, 0x78);
    for (let i = 0; i < 64; i++) {
      write('stdout', block);
      drain();
    }
    drain(true);
    expect(log.truncated).toBe(true);
    expect(log.text('stdout')).toBe('x'.repeat(cap) + `\n[icpy: output truncated: more than ${cap} bytes]\n`);
    expect(log.droppedBytes).toBe(63 << 20);
    // The kept part is all that stays on disk once the program is done.
    expect(fstatSync(files.readFds.stdout).size).toBe(cap);
  });

  it('without an inotify watch (none left) the files are looked at on a timer, and output still arrives', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'icpy-outfiles-'));
    dirs.push(dir);
    let changes = 0;
    const files = new OutputFiles(
      dir,
      () => changes++,
      () => {
        throw Object.assign(new Error('ENOSPC: System limit for number of file watchers reached'), { code: 'ENOSPC' });
      },
    );
    open.push(files);
    expect(files.polling).toBe(true);
    writeSync(files.childFds[0], 'polled\n');
    const until = Date.now() + 5000;
    while (changes === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(changes).toBeGreaterThan(0);
    const log = new OutputLog(1 << 20);
    log.attachFiles(files.readFds);
    files.drain(log, Infinity, false);
    expect(log.text('stdout')).toBe('polled\n');
  });

  it('one read larger than the cache (a wait: true result) comes back whole: buffers it evicts are not read over while it runs', () => {
    const { write, drain, log } = setup();
    const chunks = 'abcdefghij'.split('').map((c) => c.repeat(READ_BYTES - 1) + '\n');
    for (const c of chunks) write('stdout', c);
    drain();
    log.trim();
    expect(log.text('stdout')).toBe(chunks.join(''));
    const r = log.read(0);
    expect(readText(r)).toBe(chunks.join(''));
  });

  it('trim lets go of the cache and spare buffers; what was cached is read back from the file', () => {
    const { write, drain, log } = setup();
    for (const c of 'abcdef') write('stdout', c.repeat(READ_BYTES - 1) + '\n');
    drain();
    expect(log.heldBytes).toBeGreaterThan(0);
    log.trim();
    expect(log.heldBytes).toBe(0);
    const r = log.read(5 * READ_BYTES, READ_BYTES);
    expect(readText(r)).toBe('f'.repeat(READ_BYTES - 1) + '\n');
  });

  it('past the cap a running program\'s file is cut back each time it passes the slack, so the disk stays bounded while it floods', () => {
    const dir = mkdtempSync(join(tmpdir(), 'icpy-outfiles-'));
    dirs.push(dir);
    const slack = 4 << 20;
    const files = new OutputFiles(dir, () => {}, undefined, slack);
    open.push(files);
    const log = new OutputLog(1 << 20);
    log.attachFiles(files.readFds);
    const block = Buffer.alloc(1 << 20, 0x79);
    let peak = 0;
    for (let i = 0; i < 32; i++) {
      writeSync(files.childFds[0], block);
      files.drain(log, Infinity, false);
      peak = Math.max(peak, fstatSync(files.readFds.stdout).size);
    }
    expect(peak).toBeLessThanOrEqual((1 << 20) + slack + (1 << 20));
    files.drain(log, Infinity, true);
    expect(log.droppedBytes).toBe(31 << 20);
    expect(fstatSync(files.readFds.stdout).size).toBe(1 << 20);
  });

  it('after close, reads of file chunks are empty and end where they start (no reader loops on them)', () => {
    const { write, drain, log } = setup();
    write('stdout', 'abc\n');
    drain();
    log.close();
    const r = log.read(0);
    expect(r.parts).toEqual([]);
    expect(r.end).toBe(r.offset);
    expect(log.text('stdout')).toBe('');
  });
});
