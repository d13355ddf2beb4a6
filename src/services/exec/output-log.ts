import { readSync } from 'node:fs';
import { incompleteTail } from './utf8-cutter.js';

export type OutputStream = 'stdout' | 'stderr';

/** A run's output from `offset` on, all of one stream. */
export interface OutputRead {
  stream: OutputStream;
  offset: number;
  /**
   * The bytes, in order: views into the log's buffers (do not modify), valid until the log's next
   * read or drain; to hold them longer (a socket), `lend` them first.
   */
  parts: Buffer[];
  /** Offset just after the last byte of `parts`. */
  end: number;
}

interface Chunk {
  stream: OutputStream;
  /** Offset of the chunk's first byte in the run's combined output. */
  start: number;
  len: number;
  /** A memory chunk's bytes (repaired output, the marker); undefined for a file chunk. */
  buf: Buffer | undefined;
  /** Spare room after `buf` in the same allocation (small writes are copied into it). */
  block: Buffer | undefined;
  /** A file chunk: where its first byte is in the stream's output file. */
  fpos: number;
}

interface Cached {
  stream: OutputStream;
  fpos: number;
  buf: Buffer;
  /** Memory it holds: its whole allocation (a small read's pool slab, counted whole). */
  cost: number;
}

/** Size of a full read of an output file: such buffers are recycled once nothing refers to them. */
export const READ_BYTES = 1024 * 1024;
/**
 * Free bytes kept in front of every read buffer of 4 KiB or more: a binary frame header is
 * written there, so a read goes out as one contiguous WebSocket message (no copy, and no
 * fragments for the client to join).
 */
export const HEADROOM = 64;
/** Reads this large or larger get their own allocation with HEADROOM; smaller ones come from Node's pool. */
const ROOMY_MIN = 4096;
const FULL = HEADROOM + READ_BYTES;
/**
 * Recycled read buffers kept per run: enough for a flood's steady state (the cache's 4 MiB, the
 * socket's 1 MiB high-water mark and a 256 KiB frame in flight), so it allocates none.
 */
const SPARE_BUFFERS = 8;

/** Writes smaller than this are copied into a shared block; larger ones are kept as they came. */
const SMALL = 4096;
const BLOCK = 16 * 1024;
/** Bytes of the newest file reads kept in memory, so live output is sent without reading it twice. */
const CACHE_BYTES = 4 * 1024 * 1024;
const EMPTY: Buffer[] = [];
const noop = (): void => {};

/**
 * A run's combined output (stdout and stderr interleaved as they were read), addressed by byte
 * offsets over both streams. All of it is valid UTF-8 and every chunk boundary is a character
 * boundary, so any read re-encodes to exactly the bytes the offsets count.
 *
 * The bytes mostly stay where the program wrote them: in its output files (`attachFiles`, one
 * per stream, see OutputFiles), which the log only indexes — a file chunk is a stream, a file
 * offset and a length, read back when someone reads it (the newest 4 MiB read stay cached). So a
 * run's output costs the server an index, not memory, and the kernel's page cache holds it.
 * Memory chunks (`append`) hold what is not in a file as is: output that was not valid UTF-8
 * (repaired, each bad sequence U+FFFD), the truncation marker, and tests' logs.
 *
 * The first `cap` bytes are kept whole (never evicted, so any offset of a run can be re-read);
 * beyond the cap output is counted, not kept, and one marker line (on the stream that hit the
 * cap) says so. After `close` the files are gone: file chunks read as nothing.
 */
export class OutputLog {
  private readonly chunks: Chunk[] = [];
  private endOffset = 0;
  private dropped = 0;
  private cut = false;
  private files: Record<OutputStream, number> | undefined;
  private closed = false;
  private readonly cache: Cached[] = [];
  private cachedBytes = 0;
  private readonly spare: Buffer[] = [];
  /** Inside a read: what leaves the cache may be among the parts it hands out, so it is recycled when the read is over. */
  private reading = 0;
  private readonly evicted: Buffer[] = [];
  /** Read buffers (whole allocations) lent to a socket with `lend`, and how many sends hold each. */
  private readonly lent = new Map<ArrayBufferLike, number>();
  /** Allocations made by readBuffer with HEADROOM in front (nothing else is ever written there). */
  private readonly roomy = new WeakSet<ArrayBufferLike>();

  constructor(readonly cap: number) {}

  get end(): number {
    return this.endOffset;
  }

  get truncated(): boolean {
    return this.cut;
  }

  /** Bytes that arrived after the cap and were not kept. */
  get droppedBytes(): number {
    return this.dropped;
  }

  /** Room left before the cap. */
  get room(): number {
    return this.cut ? 0 : this.cap - this.endOffset;
  }

  /** The readable descriptors of the output files that file chunks point into (the log reads them, does not close them). */
  attachFiles(fds: Record<OutputStream, number>): void {
    this.files = fds;
  }

  /** The files are closed: file chunks read as nothing from now on. */
  close(): void {
    this.closed = true;
    this.files = undefined;
    this.trim();
  }

  /** Let go of the cache and the spare read buffers (a finished run nobody reads: later reads go to the files). */
  trim(): void {
    this.cache.length = 0;
    this.cachedBytes = 0;
    this.spare.length = 0;
  }

  /** Memory the log holds for reading (its cache and spare read buffers), in bytes. */
  get heldBytes(): number {
    return this.cachedBytes + this.spare.length * READ_BYTES;
  }

  /**
   * A buffer to read `size` bytes of an output file into: a recycled one nobody holds, else a new
   * one. Reusing them is most of what keeps a flood cheap: a fresh megabyte costs 256 page faults
   * and zeroed pages, and their churn sets off garbage collections (external memory pressure).
   */
  readBuffer(size: number): Buffer {
    if (size > READ_BYTES / 4) {
      for (let i = this.spare.length - 1; i >= 0; i--) {
        const b = this.spare[i]!;
        if (this.lent.has(b.buffer)) continue;
        this.spare.splice(i, 1);
        return size === READ_BYTES ? b : b.subarray(0, size);
      }
      return this.roomyBuffer(READ_BYTES).subarray(0, size);
    }
    return size >= ROOMY_MIN ? this.roomyBuffer(size) : Buffer.allocUnsafe(size);
  }

  private roomyBuffer(size: number): Buffer {
    const b = Buffer.allocUnsafeSlow(HEADROOM + size);
    this.roomy.add(b.buffer);
    return b.subarray(HEADROOM);
  }

  /**
   * Bytes free in front of `part` in its allocation (HEADROOM when it starts a read buffer of the
   * log's, else 0): a frame header may be written there.
   */
  headroom(part: Buffer): number {
    return part.byteOffset === HEADROOM && this.roomy.has(part.buffer) ? HEADROOM : 0;
  }

  /**
   * The parts of a read are handed to a socket that may hold them after this call (a binary
   * frame): none of their buffers is read over until the returned function has been called (when
   * the socket wrote them, or is gone). Call it exactly once.
   */
  lend(parts: readonly Buffer[]): () => void {
    const held: ArrayBufferLike[] = [];
    for (const p of parts) {
      const ab = p.buffer;
      if (ab.byteLength !== FULL) continue;
      this.lent.set(ab, (this.lent.get(ab) ?? 0) + 1);
      held.push(ab);
    }
    if (held.length === 0) return noop;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      for (const ab of held) {
        const n = this.lent.get(ab)! - 1;
        if (n > 0) this.lent.set(ab, n);
        else this.lent.delete(ab);
      }
    };
  }

  /** Read buffers lent to sockets and not yet given back (for tests and figures). */
  get lentBuffers(): number {
    return this.lent.size;
  }

  /** A read buffer nobody refers to (read, indexed and not kept): the next read may use it. */
  recycle(b: Buffer): void {
    const ab = b.buffer;
    if (ab.byteLength === FULL && b.byteOffset === HEADROOM && this.roomy.has(ab) && this.spare.length < SPARE_BUFFERS) {
      this.spare.push(Buffer.from(ab, HEADROOM, READ_BYTES));
    }
  }

  /** Append whole characters of valid UTF-8 held in memory; the part past the cap is dropped and the marker appended once. */
  append(stream: OutputStream, bytes: Buffer): void {
    const n = bytes.length;
    if (n === 0) return;
    if (this.cut) {
      this.dropped += n;
      return;
    }
    if (this.endOffset + n <= this.cap) return this.push(stream, bytes);
    const keep = this.keepable(bytes);
    if (keep > 0) this.push(stream, bytes.subarray(0, keep));
    this.truncate(stream, n - keep);
  }

  /**
   * Index `bytes`, just read from the stream's output file at `fpos` (whole characters of valid
   * UTF-8): kept as a file chunk (and cached), cut at the cap like `append`. Returns how many of
   * them were kept.
   */
  appendFile(stream: OutputStream, fpos: number, bytes: Buffer, cache = true): number {
    const n = bytes.length;
    if (n === 0) return 0;
    if (this.cut) {
      this.dropped += n;
      return 0;
    }
    const keep = this.endOffset + n <= this.cap ? n : this.keepable(bytes);
    if (keep > 0) {
      const last = this.chunks[this.chunks.length - 1];
      if (last && last.buf === undefined && last.stream === stream && last.fpos + last.len === fpos) last.len += keep;
      else this.chunks.push({ stream, start: this.endOffset, len: keep, buf: undefined, block: undefined, fpos });
      this.endOffset += keep;
      if (cache) this.remember(stream, fpos, keep === n ? bytes : bytes.subarray(0, keep));
    }
    if (keep < n) this.truncate(stream, n - keep);
    return keep;
  }

  /** Count bytes arriving after the cap without looking at them. */
  drop(bytes: number): void {
    this.dropped += bytes;
  }

  /** How many of `bytes` fit under the cap, cut back to a character start. */
  private keepable(bytes: Buffer): number {
    let keep = Math.min(bytes.length, this.cap - this.endOffset);
    while (keep > 0 && keep < bytes.length && (bytes[keep]! & 0xc0) === 0x80) keep--;
    return keep;
  }

  private truncate(stream: OutputStream, dropped: number): void {
    this.dropped += dropped;
    this.cut = true;
    this.push(stream, Buffer.from(`\n[icpy: output truncated: more than ${this.cap} bytes]\n`, 'utf8'));
  }

  private push(stream: OutputStream, b: Buffer): void {
    const n = b.length;
    const last = this.chunks[this.chunks.length - 1];
    if (n < SMALL) {
      // A flood of tiny writes stays a few chunks, and each one does not pin its own allocation.
      if (last && last.stream === stream && last.buf && last.block && last.len + n <= last.block.length) {
        b.copy(last.block, last.len);
        last.len += n;
        last.buf = last.block.subarray(0, last.len);
      } else {
        const block = Buffer.allocUnsafe(BLOCK);
        b.copy(block, 0);
        this.chunks.push({ stream, start: this.endOffset, len: n, buf: block.subarray(0, n), block, fpos: -1 });
      }
    } else {
      this.chunks.push({ stream, start: this.endOffset, len: n, buf: b, block: undefined, fpos: -1 });
    }
    this.endOffset += n;
  }

  private remember(stream: OutputStream, fpos: number, buf: Buffer): void {
    const cost = Math.max(buf.length, buf.buffer.byteLength);
    this.cache.push({ stream, fpos, buf, cost });
    this.cachedBytes += cost;
    while (this.cachedBytes > CACHE_BYTES && this.cache.length > 1) {
      const old = this.cache.shift()!;
      this.cachedBytes -= old.cost;
      if (this.reading === 0) this.recycle(old.buf);
      else this.evicted.push(old.buf);
    }
  }

  /**
   * Output from `from` on: consecutive bytes of one stream, at most `maxBytes` (at least one
   * character). `from` inside a character moves on to the next character start. `onePart`: stop
   * after the first part (the rest of one read buffer or memory chunk), so the read is one
   * contiguous buffer.
   */
  read(from: number, maxBytes = Infinity, onePart = false): OutputRead {
    this.reading++;
    try {
      return this.readParts(from, maxBytes, onePart);
    } finally {
      if (--this.reading === 0) this.endRead();
    }
  }

  private readParts(from: number, maxBytes: number, onePart: boolean): OutputRead {
    if (from >= this.endOffset) return { stream: 'stdout', offset: this.endOffset, parts: [], end: this.endOffset };
    let i = this.find(from);
    const first = this.chunks[i]!;
    const stream = first.stream;
    let k = from - first.start;
    // Skip to a character start (at most 3 continuation bytes; chunks start at characters).
    if (k > 0) {
      const head = this.bytes(first, k, Math.min(4, first.len - k));
      let skip = 0;
      for (const p of head) {
        let j = 0;
        while (j < p.length && (p[j]! & 0xc0) === 0x80) j++;
        skip += j;
        if (j < p.length) break;
      }
      k += skip;
      if (k >= first.len) return this.readParts(first.start + first.len, maxBytes, onePart);
    }
    const offset = first.start + k;
    const limit = Math.max(1, maxBytes);
    const parts: Buffer[] = [];
    let taken = 0;
    let c: Chunk | undefined = first;
    while (c && c.stream === stream) {
      const avail = c.len - k;
      if (taken > 0 && taken + avail > limit) break;
      if (avail > limit - taken) {
        // Cut inside this chunk at a character start (the bytes are valid UTF-8: the tail tells).
        // Every part but the last ends at a character (a cache entry's end is one): only the
        // last is cut back, nothing is joined.
        const got = this.bytes(c, k, limit - taken);
        let added = 0;
        for (let j = 0; j < got.length; j++) {
          const p = got[j]!;
          const n = j === got.length - 1 ? incompleteTail(p) : p.length;
          if (n > 0) parts.push(n === p.length ? p : p.subarray(0, n));
          added += n;
          if (n < p.length || onePart) break;
        }
        if (added === 0 && taken === 0) {
          // maxBytes is inside the first character: take that whole character.
          const f = Buffer.concat(this.bytes(c, k, Math.min(avail, 4)));
          const n = f.length === 0 ? 0 : Math.min(f.length, charLength(f[0]!));
          if (n > 0) parts.push(f.subarray(0, n));
          added = n;
        }
        taken += added;
        break;
      }
      let got = 0;
      for (const p of this.bytes(c, k, avail)) {
        parts.push(p);
        got += p.length;
        if (onePart) break;
      }
      taken += got;
      // A closed log (or a file cut short) has nothing more: the read ends where its bytes do.
      if (got < avail || onePart) break;
      k = 0;
      c = this.chunks[++i];
    }
    return { stream, offset, parts, end: offset + taken };
  }

  /** Bytes [k, k + n) of a chunk: views of a memory chunk, or the file chunk's bytes (cache, else the file). */
  private bytes(c: Chunk, k: number, n: number): Buffer[] {
    if (n <= 0) return EMPTY;
    if (c.buf) return [k === 0 && n === c.len ? c.buf : c.buf.subarray(k, k + n)];
    const fd = this.files?.[c.stream];
    if (fd === undefined || this.closed) return EMPTY;
    const out: Buffer[] = [];
    let pos = c.fpos + k;
    let left = n;
    while (left > 0) {
      const hit = this.cached(c.stream, pos);
      if (hit) {
        const at = pos - hit.fpos;
        const take = Math.min(left, hit.buf.length - at);
        out.push(at === 0 && take === hit.buf.length ? hit.buf : hit.buf.subarray(at, at + take));
        pos += take;
        left -= take;
        continue;
      }
      // Not cached (a connection reading behind, a replay): read a whole piece of the chunk, and
      // cache it, so the reads after this one find it.
      const size = Math.min(READ_BYTES, c.fpos + c.len - pos);
      const buf = this.readBuffer(size);
      let got = 0;
      try {
        while (got < size) {
          const r = readSync(fd, buf, got, size - got, pos + got);
          if (r <= 0) break;
          got += r;
        }
      } catch {
        /* closed meanwhile */
      }
      if (got === 0) break;
      // Every part ends at a character (the chunk's end is one): a part is decoded on its own.
      const whole = pos + got < c.fpos + c.len ? incompleteTail(buf.subarray(0, got)) : got;
      if (whole === 0) break;
      const piece = whole === buf.length ? buf : buf.subarray(0, whole);
      this.remember(c.stream, pos, piece);
      const take = Math.min(left, piece.length);
      out.push(take === piece.length ? piece : piece.subarray(0, take));
      pos += take;
      left -= take;
    }
    return out;
  }

  /** A read is over: what it pushed out of the cache may be read over by the next one (unless lent meanwhile). */
  private endRead(): void {
    for (const b of this.evicted) this.recycle(b);
    this.evicted.length = 0;
  }

  private cached(stream: OutputStream, pos: number): Cached | undefined {
    for (let j = this.cache.length - 1; j >= 0; j--) {
      const e = this.cache[j]!;
      if (e.stream === stream && pos >= e.fpos && pos < e.fpos + e.buf.length) return e;
    }
    return undefined;
  }

  /** Everything kept of one stream, decoded. */
  text(stream: OutputStream): string {
    this.reading++;
    try {
      let s = '';
      for (const c of this.chunks) if (c.stream === stream) for (const p of this.bytes(c, 0, c.len)) s += p.toString('utf8');
      return s;
    } finally {
      if (--this.reading === 0) this.endRead();
    }
  }

  /**
   * Where `read(from, maxBytes)` would end — its stream, offset and end — without handing out its
   * bytes (an event that keeps offsets needs no more): only the few bytes around a cut inside a
   * chunk are looked at, from the cache or with a read of 4 bytes, so nothing is read into
   * memory for it. `from` must be a character start (the end of an earlier read or span).
   */
  span(from: number, maxBytes: number): { stream: OutputStream; offset: number; end: number } {
    if (from >= this.endOffset) return { stream: 'stdout', offset: this.endOffset, end: this.endOffset };
    let i = this.find(from);
    let c: Chunk | undefined = this.chunks[i]!;
    const stream = c.stream;
    const limit = Math.max(1, maxBytes);
    let k = from - c.start;
    let taken = 0;
    while (c && c.stream === stream) {
      const avail = c.len - k;
      if (taken > 0 && taken + avail > limit) break;
      if (avail > limit - taken) {
        // A cut inside this chunk: back to the start of the character the limit falls in (at
        // most 3 continuation bytes), or past the first character when that is all there is.
        const cut = k + (limit - taken);
        const look = Math.min(3, cut - k);
        const b = this.peek(c, cut - look, look + 1);
        let back = 0;
        while (back < look && (b[look - back]! & 0xc0) === 0x80) back++;
        let n = limit - taken - back;
        if (n === 0 && taken === 0) n = Math.min(avail, charLength(this.peek(c, k, 1)[0] ?? 0x41));
        taken += n;
        break;
      }
      taken += avail;
      k = 0;
      c = this.chunks[++i];
    }
    return { stream, offset: from, end: from + taken };
  }

  /** `n` bytes of a chunk from `k`: cached or in memory as views, else read into a small buffer (not cached). */
  private peek(c: Chunk, k: number, n: number): Buffer {
    if (c.buf) return c.buf.subarray(k, k + n);
    const pos = c.fpos + k;
    const hit = this.cached(c.stream, pos);
    if (hit && pos + n <= hit.fpos + hit.buf.length) return hit.buf.subarray(pos - hit.fpos, pos - hit.fpos + n);
    const fd = this.files?.[c.stream];
    const out = Buffer.alloc(n);
    if (fd === undefined || this.closed) return out;
    try {
      readSync(fd, out, 0, n, pos);
    } catch {
      /* closed meanwhile: zeros read as character starts */
    }
    return out;
  }

  private find(offset: number): number {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.chunks[mid]!.start <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

function charLength(lead: number): number {
  return lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
}

/** The text of a read (one decode; the bytes are valid UTF-8). */
export function readText(r: OutputRead): string {
  if (r.parts.length === 0) return '';
  // Part by part (every part boundary is a character boundary): one copy, not a concat and a decode.
  let s = r.parts[0]!.toString('utf8');
  for (let i = 1; i < r.parts.length; i++) s += r.parts[i]!.toString('utf8');
  return s;
}
