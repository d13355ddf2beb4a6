/*
 * Output is kept as whole characters of valid UTF-8: a read that ends inside a character leaves
 * that character for the next read (OutputFiles; it is still in the file), and output that is not
 * valid UTF-8 is repaired through a decode (each bad sequence becomes U+FFFD). So every chunk
 * boundary of the output log is a character boundary, and the JSON path's `data` strings
 * re-encode to exactly the bytes the offsets count.
 */

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
