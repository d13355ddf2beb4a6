/**
 * A terminal's bounded output history, addressed by absolute byte offsets (UTF-8 bytes since the
 * terminal started). Offsets never restart; only the oldest bytes are dropped. Text is kept as the
 * strings the PTY delivered, so reading whole chunks costs no re-decoding. Every kept boundary is
 * a character boundary: a chunk is a whole decoded string and a trimmed front is cut forward to
 * the next character start.
 */
export interface ScrollbackRead {
  /** Offset of the first byte of `data` (≥ the requested offset; larger when that was dropped). */
  offset: number;
  data: string;
  /** Offset just after `data`. */
  end: number;
}

/** How far back redrawStart looks (a full screen of even a large terminal is far less). */
const REDRAW_SCAN_BYTES = 2 * 1024 * 1024;

// DEC private modes 1049, 1047 and 47 switch to (h) and from (l) the alternate screen.
const ALT_SCREEN = /\x1b\[\?(?:1049|1047|47)([hl])/g;

/** Index of the switch into the alternate screen that is still in effect at the end, if any. */
function altScreenEntry(text: string): number | undefined {
  let entry: number | undefined;
  for (const m of text.matchAll(ALT_SCREEN)) entry = m[1] === 'h' ? (entry ?? m.index) : undefined;
  return entry;
}

interface Chunk {
  start: number;
  bytes: number;
  text: string;
}

export class ScrollbackBuffer {
  private chunks: Chunk[] = [];
  private head = 0;
  private startOffset = 0;
  private endOffset = 0;

  constructor(readonly capacity: number) {
    if (!(capacity > 0)) throw new Error('Scrollback capacity must be positive');
  }

  /** Oldest offset still kept. */
  get start(): number {
    return this.startOffset;
  }

  /** Offset after the newest byte: the total bytes ever appended. */
  get end(): number {
    return this.endOffset;
  }

  get size(): number {
    return this.endOffset - this.startOffset;
  }

  append(text: string): number {
    if (text.length === 0) return this.endOffset;
    const bytes = Buffer.byteLength(text, 'utf8');
    this.chunks.push({ start: this.endOffset, bytes, text });
    this.endOffset += bytes;
    this.trim();
    return this.endOffset;
  }

  private trim(): void {
    while (this.size > this.capacity) {
      const first = this.chunks[this.head]!;
      const excess = this.size - this.capacity;
      if (first.bytes <= excess) {
        this.head++;
        this.startOffset = first.start + first.bytes;
        continue;
      }
      // Drop part of the first chunk, cutting forward to a character boundary.
      const buf = Buffer.from(first.text, 'utf8');
      let cut = excess;
      while (cut < buf.length && (buf[cut]! & 0xc0) === 0x80) cut++;
      const rest = buf.subarray(cut);
      this.chunks[this.head] = { start: first.start + cut, bytes: rest.length, text: rest.toString('utf8') };
      this.startOffset = first.start + cut;
      if (rest.length === 0) this.head++;
    }
    if (this.head > 64 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * Kept text from `from` on, at most about `maxBytes` (always at least one chunk when any is
   * left, so progress is guaranteed). `from` below `start` reads from `start`; inside a chunk
   * it is moved forward to the next character boundary.
   */
  read(from: number, maxBytes = Infinity): ScrollbackRead {
    if (from >= this.endOffset) return { offset: this.endOffset, data: '', end: this.endOffset };
    from = Math.max(from, this.startOffset);
    let i = this.findChunk(from);
    const parts: string[] = [];
    let offset = from;
    let taken = 0;
    const first = this.chunks[i]!;
    if (from > first.start) {
      const buf = Buffer.from(first.text, 'utf8');
      let k = from - first.start;
      while (k < buf.length && (buf[k]! & 0xc0) === 0x80) k++;
      offset = first.start + k;
      if (k < buf.length) {
        parts.push(buf.subarray(k).toString('utf8'));
        taken = buf.length - k;
      }
      i++;
    }
    for (; i < this.chunks.length && (taken === 0 || taken + this.chunks[i]!.bytes <= maxBytes); i++) {
      parts.push(this.chunks[i]!.text);
      taken += this.chunks[i]!.bytes;
    }
    return { offset, data: parts.length === 1 ? parts[0]! : parts.join(''), end: offset + taken };
  }

  private findChunk(offset: number): number {
    let lo = this.head;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.chunks[mid]!.start <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * Where a client that has nothing on screen should start replaying to repaint it: the start
   * of the last `lines` lines (so a screen of that many rows fills), or, when a full-screen
   * program is in the alternate screen, where it switched to it (if that is earlier), so its
   * whole drawing since is replayed. Looks at most `scanBytes` back; always a character boundary.
   */
  redrawStart(lines: number, scanBytes = REDRAW_SCAN_BYTES): number {
    const from = Math.max(this.startOffset, this.endOffset - scanBytes);
    const r = this.read(from);
    const text = r.data;
    // Just after the `lines`-th newline from the end (the cursor's line counts as one).
    let pos = text.length;
    let cut = 0;
    for (let k = 0; k < lines; k++) {
      const j = pos > 0 ? text.lastIndexOf('\n', pos - 1) : -1;
      if (j < 0) {
        cut = 0;
        break;
      }
      pos = j;
      cut = j + 1;
    }
    const alt = altScreenEntry(text);
    if (alt !== undefined && alt < cut) cut = alt;
    return r.offset + Buffer.byteLength(text.slice(0, cut), 'utf8');
  }

  /** Everything kept, as one string. */
  text(): string {
    return this.read(this.startOffset).data;
  }
}
