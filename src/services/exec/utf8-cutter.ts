import { isUtf8 } from 'node:buffer';

const EMPTY = Buffer.alloc(0);

/**
 * Cuts one pipe's bytes into pieces of whole characters of valid UTF-8, without decoding them:
 * an incomplete last character waits for the next read, and a piece that is not valid UTF-8
 * (rare: a program writing binary) is repaired through a decode (each bad sequence becomes
 * U+FFFD). So every byte the output log keeps is valid UTF-8 and every chunk boundary a character
 * boundary: the JSON path's `data` strings re-encode to exactly the bytes the offsets count.
 */
export class Utf8Cutter {
  private carry: Buffer | undefined;

  write(b: Buffer): Buffer {
    if (this.carry) {
      b = Buffer.concat([this.carry, b]);
      this.carry = undefined;
    }
    const cut = incompleteTail(b);
    if (cut < b.length) {
      this.carry = Buffer.from(b.subarray(cut));
      b = b.subarray(0, cut);
    }
    return isUtf8(b) ? b : Buffer.from(b.toString('utf8'), 'utf8');
  }

  /** The stream ended: what is held back (an unfinished character) comes out repaired. */
  end(): Buffer {
    const c = this.carry;
    this.carry = undefined;
    return c ? Buffer.from(c.toString('utf8'), 'utf8') : EMPTY;
  }
}

/** Index where an unfinished last character starts, or b.length when the last one is whole. */
export function incompleteTail(b: Uint8Array): number {
  const n = b.length;
  for (let i = n - 1; i >= 0 && i >= n - 3; i--) {
    const c = b[i]!;
    if ((c & 0xc0) === 0x80) continue;
    const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return i + need > n ? i : n;
  }
  return n;
}
