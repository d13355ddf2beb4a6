import { IcpyError } from '../../core/errors.js';

/** LSP position: zero-based line, `character` in UTF-16 code units (LSP's default; what Y.Text indexes). */
export interface LspPosition {
  line: number;
  character: number;
}

export interface LspRange {
  start: LspPosition;
  end: LspPosition;
}

/**
 * Offsets (UTF-16) where each line starts. `\n`, `\r\n` and `\r` each end a line (the LSP rule),
 * so a text of N line breaks has N + 1 lines.
 */
export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) starts.push(i + 1);
    else if (c === 13) {
      if (text.charCodeAt(i + 1) === 10) i++;
      starts.push(i + 1);
    }
  }
  return starts;
}

/** End of line `line`'s content (before its line break). */
function lineEnd(text: string, starts: readonly number[], line: number): number {
  if (line + 1 >= starts.length) return text.length;
  let end = starts[line + 1]!;
  if (end > 0 && text.charCodeAt(end - 1) === 10) end--;
  if (end > starts[line]! && text.charCodeAt(end - 1) === 13) end--;
  return end;
}

/**
 * The offset of an LSP position. A `character` past the end of its line means the line's end
 * (LSP rule); a `line` past the last line is INVALID_PARAMS naming `field`.
 */
export function offsetAt(text: string, starts: readonly number[], pos: LspPosition, field: string): number {
  if (pos.line >= starts.length) {
    throw new IcpyError('INVALID_PARAMS', `${field}: line ${pos.line} is past the last line (${starts.length - 1})`, { field, lines: starts.length });
  }
  const start = starts[pos.line]!;
  return Math.min(start + pos.character, lineEnd(text, starts, pos.line));
}

/** The LSP position of an offset (clamped to the text). */
export function positionAt(starts: readonly number[], offset: number): LspPosition {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo, character: offset - starts[lo]! };
}
