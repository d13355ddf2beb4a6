export type OutputStream = 'stdout' | 'stderr';

/** A run's output from `offset` on, all of one stream. */
export interface OutputRead {
  stream: OutputStream;
  offset: number;
  data: string;
  /** Offset just after `data`. */
  end: number;
}

interface Chunk {
  stream: OutputStream;
  start: number;
  bytes: number;
  text: string;
}

/**
 * A run's combined output (stdout and stderr interleaved as they arrived), addressed by byte
 * offsets: an offset counts the UTF-8 bytes of the text delivered before it, over both streams.
 * The first `cap` bytes are kept whole (never evicted, so any offset of a run can be re-read);
 * beyond the cap output is counted, not kept, and one marker line (on the stream that hit the cap)
 * says so. Text is kept as decoded strings; every chunk boundary is a character boundary.
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

  /** Room left before the cap (a caller past it may count bytes with `drop` instead of decoding). */
  get room(): number {
    return this.cut ? 0 : this.cap - this.endOffset;
  }

  /** Append decoded text; the part past the cap is dropped and the marker appended once. */
  append(stream: OutputStream, text: string): void {
    if (text.length === 0) return;
    if (this.cut) {
      this.dropped += Buffer.byteLength(text, 'utf8');
      return;
    }
    const bytes = Buffer.byteLength(text, 'utf8');
    if (this.endOffset + bytes <= this.cap) {
      this.push(stream, text, bytes);
      return;
    }
    const buf = Buffer.from(text, 'utf8');
    let keep = this.cap - this.endOffset;
    // Cut back to a character start so the kept part is valid UTF-8.
    while (keep > 0 && (buf[keep]! & 0xc0) === 0x80) keep--;
    if (keep > 0) this.push(stream, buf.subarray(0, keep).toString('utf8'), keep);
    this.dropped += bytes - keep;
    this.cut = true;
    const marker = `\n[icpy: output truncated: more than ${this.cap} bytes]\n`;
    this.push(stream, marker, Buffer.byteLength(marker));
  }

  /** Count bytes arriving after the cap without decoding them. */
  drop(bytes: number): void {
    this.dropped += bytes;
  }

  private push(stream: OutputStream, text: string, bytes: number): void {
    const last = this.chunks[this.chunks.length - 1];
    // Small pieces of one stream are merged, so a flood of tiny writes stays a few chunks.
    if (last && last.stream === stream && last.bytes + bytes <= 4096) {
      last.text += text;
      last.bytes += bytes;
    } else {
      this.chunks.push({ stream, start: this.endOffset, bytes, text });
    }
    this.endOffset += bytes;
  }

  /**
   * Output from `from` (a chunk boundary this log handed out: 0, or an `end` of an earlier read)
   * on: consecutive chunks of one stream, at most about `maxBytes` (always at least one chunk).
   */
  read(from: number, maxBytes = Infinity): OutputRead {
    if (from >= this.endOffset) return { stream: 'stdout', offset: this.endOffset, data: '', end: this.endOffset };
    let i = this.find(from);
    const first = this.chunks[i]!;
    const parts: string[] = [];
    let offset = first.start;
    let taken = 0;
    if (from > first.start) {
      // Inside a chunk (a client resuming at an offset of its own): move to a character start.
      const buf = Buffer.from(first.text, 'utf8');
      let k = from - first.start;
      while (k < buf.length && (buf[k]! & 0xc0) === 0x80) k++;
      offset = first.start + k;
      parts.push(buf.subarray(k).toString('utf8'));
      taken = buf.length - k;
      i++;
    }
    const stream = first.stream;
    for (; i < this.chunks.length; i++) {
      const c = this.chunks[i]!;
      if (c.stream !== stream || (taken > 0 && taken + c.bytes > maxBytes)) break;
      parts.push(c.text);
      taken += c.bytes;
    }
    return { stream, offset, data: parts.length === 1 ? parts[0]! : parts.join(''), end: offset + taken };
  }

  /** Everything kept of one stream. */
  text(stream: OutputStream): string {
    let out = '';
    for (const c of this.chunks) if (c.stream === stream) out += c.text;
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
