export type OutputStream = 'stdout' | 'stderr';

/** A run's output from `offset` on, all of one stream, as the log's own bytes (not copied). */
export interface OutputRead {
  stream: OutputStream;
  offset: number;
  /** The bytes, in order (views into the log: do not modify). */
  parts: Buffer[];
  /** Offset just after the last byte of `parts`. */
  end: number;
}

interface Chunk {
  stream: OutputStream;
  start: number;
  buf: Buffer;
  /** Spare room after `buf` in the same allocation (small writes are copied into it). */
  block: Buffer | undefined;
}

/** Writes smaller than this are copied into a shared block; larger ones are kept as they came. */
const SMALL = 4096;
const BLOCK = 16 * 1024;

/**
 * A run's combined output (stdout and stderr interleaved as they arrived), addressed by byte
 * offsets over both streams. Bytes are kept as Buffers (the pipe's own reads, not decoded, not
 * copied; small writes packed into 16 KiB blocks) and must be valid UTF-8 cut at character
 * boundaries (see Utf8Cutter), so any chunk boundary is a character boundary. The first `cap`
 * bytes are kept whole (never evicted, so any offset of a run can be re-read); beyond the cap
 * output is counted, not kept, and one marker line (on the stream that hit the cap) says so.
 */
export class OutputLog {
  private readonly chunks: Chunk[] = [];
  private endOffset = 0;
  private dropped = 0;
  private cut = false;

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

  /** Append whole characters of valid UTF-8; the part past the cap is dropped and the marker appended once. */
  append(stream: OutputStream, bytes: Buffer): void {
    const n = bytes.length;
    if (n === 0) return;
    if (this.cut) {
      this.dropped += n;
      return;
    }
    if (this.endOffset + n <= this.cap) return this.push(stream, bytes);
    let keep = this.cap - this.endOffset;
    // Cut back to a character start so the kept part is valid UTF-8.
    while (keep > 0 && (bytes[keep]! & 0xc0) === 0x80) keep--;
    if (keep > 0) this.push(stream, bytes.subarray(0, keep));
    this.dropped += n - keep;
    this.cut = true;
    this.push(stream, Buffer.from(`\n[icpy: output truncated: more than ${this.cap} bytes]\n`, 'utf8'));
  }

  /** Count bytes arriving after the cap without looking at them. */
  drop(bytes: number): void {
    this.dropped += bytes;
  }

  private push(stream: OutputStream, b: Buffer): void {
    const n = b.length;
    const last = this.chunks[this.chunks.length - 1];
    if (n < SMALL) {
      // A flood of tiny writes stays a few chunks, and each one does not pin its own allocation.
      if (last && last.stream === stream && last.block && last.buf.length + n <= last.block.length) {
        b.copy(last.block, last.buf.length);
        last.buf = last.block.subarray(0, last.buf.length + n);
      } else {
        const block = Buffer.allocUnsafe(BLOCK);
        b.copy(block, 0);
        this.chunks.push({ stream, start: this.endOffset, buf: block.subarray(0, n), block });
      }
    } else {
      this.chunks.push({ stream, start: this.endOffset, buf: b, block: undefined });
    }
    this.endOffset += n;
  }

  /**
   * Output from `from` on: consecutive bytes of one stream, at most about `maxBytes` (always at
   * least one chunk's worth). `from` inside a character moves on to the next character start.
   */
  read(from: number, maxBytes = Infinity): OutputRead {
    if (from >= this.endOffset) return { stream: 'stdout', offset: this.endOffset, parts: [], end: this.endOffset };
    let i = this.find(from);
    const first = this.chunks[i]!;
    let k = from - first.start;
    while (k < first.buf.length && (first.buf[k]! & 0xc0) === 0x80) k++;
    const offset = first.start + k;
    const parts: Buffer[] = [];
    let taken = 0;
    if (k < first.buf.length) {
      parts.push(k === 0 ? first.buf : first.buf.subarray(k));
      taken = first.buf.length - k;
    }
    const stream = first.stream;
    for (i++; i < this.chunks.length; i++) {
      const c = this.chunks[i]!;
      if (c.stream !== stream || (taken > 0 && taken + c.buf.length > maxBytes)) break;
      parts.push(c.buf);
      taken += c.buf.length;
    }
    return { stream, offset, parts, end: offset + taken };
  }

  /** Everything kept of one stream, decoded. */
  text(stream: OutputStream): string {
    const parts: Buffer[] = [];
    for (const c of this.chunks) if (c.stream === stream) parts.push(c.buf);
    return Buffer.concat(parts).toString('utf8');
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

/** The text of a read (one decode; the bytes are valid UTF-8). */
export function readText(r: OutputRead): string {
  if (r.parts.length === 0) return '';
  // Part by part (every part boundary is a character boundary): one copy, not a concat and a decode.
  let s = r.parts[0]!.toString('utf8');
  for (let i = 1; i < r.parts.length; i++) s += r.parts[i]!.toString('utf8');
  return s;
}
