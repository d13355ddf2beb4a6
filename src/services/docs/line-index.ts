import { lineStarts, type LspPosition } from './positions.js';

/** An LSP position: 0-based line, `character` in UTF-16 code units (what JS strings and Y.Text index). */
export type Pos = LspPosition;

/**
 * Offsets ↔ LSP positions over one snapshot of a text (positions.ts rules), computed once per
 * snapshot so one index serves every cursor of a room. Unlike docs.applyEdits, presence clamps: a
 * cursor past the end is at the end (a client may report a position in a text it has not synced).
 */
export class LineIndex {
  private starts: number[] | undefined;

  constructor(readonly text: string) {}

  /** Offset of a position; a line past the end → the text's end, a character past its line → the line's end. */
  offsetAt(pos: Pos): number {
    const starts = this.lineStarts();
    if (pos.line >= starts.length) return this.text.length;
    const start = starts[Math.max(0, pos.line)]!;
    return Math.min(start + Math.max(0, pos.character), this.contentEnd(pos.line));
  }

  /** Position of an offset (clamped to the text). */
  positionAt(offset: number): Pos {
    const starts = this.lineStarts();
    const at = Math.max(0, Math.min(offset, this.text.length));
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= at) lo = mid;
      else hi = mid - 1;
    }
    // An offset between \r and \n belongs to the end of the line they close.
    return { line: lo, character: Math.min(at, this.contentEnd(lo)) - starts[lo]! };
  }

  /** End of a line's content (before its line break). */
  private contentEnd(line: number): number {
    const starts = this.lineStarts();
    if (line + 1 >= starts.length) return this.text.length;
    const next = starts[line + 1]!;
    const t = this.text;
    if (next >= 2 && t.charCodeAt(next - 2) === 13 && t.charCodeAt(next - 1) === 10) return next - 2;
    return next - 1;
  }

  private lineStarts(): number[] {
    return (this.starts ??= lineStarts(this.text));
  }
}
