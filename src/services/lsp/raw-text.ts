/**
 * What a raw LSP client's document notifications mean as text: `contentChanges` of a didChange
 * apply one after the other (each range refers to the text the previous change produced), which
 * is not the TextEdit[] semantics of the live documents (every range against the same base). The
 * raw session keeps each client's text and turns a whole didChange into one edit over it.
 */

export interface RawPosition {
  line: number;
  character: number;
}

export interface RawRange {
  start: RawPosition;
  end: RawPosition;
}

/** One `TextDocumentContentChangeEvent`: a range and its new text, or (no range) the whole text. */
export interface RawContentChange {
  range?: RawRange;
  text: string;
}

/** One edit as the live documents take it (LSP UTF-16 positions). */
export interface RawEdit {
  range: RawRange;
  text: string;
}

export class RawChangeError extends Error {}

/**
 * UTF-16 offset of an LSP position in `text`. As LSP says, a character past the end of its line
 * means the end of that line and a line past the last means the end of the text; "\r\n", "\r" and
 * "\n" all end a line.
 */
export function offsetOf(text: string, pos: RawPosition): number {
  let line = 0;
  let at = 0;
  while (line < pos.line) {
    const nl = nextLineStart(text, at);
    if (nl < 0) return text.length;
    at = nl;
    line++;
  }
  const end = lineEnd(text, at);
  return Math.min(at + pos.character, end);
}

function nextLineStart(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) return i + 1;
    if (c === 13) return text.charCodeAt(i + 1) === 10 ? i + 2 : i + 1;
  }
  return -1;
}

function lineEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || c === 13) return i;
  }
  return text.length;
}

function isPosition(p: unknown): p is RawPosition {
  const o = p as RawPosition | null;
  return !!o && typeof o === 'object' && Number.isInteger(o.line) && o.line >= 0 && Number.isInteger(o.character) && o.character >= 0;
}

/** Apply a didChange's `contentChanges` in order. Malformed changes throw RawChangeError. */
export function applyContentChanges(text: string, changes: unknown): string {
  if (!Array.isArray(changes)) throw new RawChangeError('contentChanges is not an array');
  let out = text;
  for (const [i, c] of changes.entries()) {
    const change = c as RawContentChange | null;
    if (!change || typeof change !== 'object' || typeof change.text !== 'string') throw new RawChangeError(`contentChanges[${i}] has no text`);
    if (change.range === undefined) {
      out = change.text;
      continue;
    }
    if (!change.range || !isPosition(change.range.start) || !isPosition(change.range.end)) throw new RawChangeError(`contentChanges[${i}].range is not a range`);
    const start = offsetOf(out, change.range.start);
    const end = offsetOf(out, change.range.end);
    if (end < start) throw new RawChangeError(`contentChanges[${i}].range ends before it starts`);
    out = out.slice(0, start) + change.text + out.slice(end);
  }
  return out;
}

/** The LSP position of a UTF-16 offset. */
export function positionOf(text: string, offset: number): RawPosition {
  let line = 0;
  let start = 0;
  for (;;) {
    const nl = nextLineStart(text, start);
    if (nl < 0 || nl > offset) break;
    // "\r|\n": an offset between the two belongs to the line the "\r" ends.
    if (nl === offset + 1 && text.charCodeAt(offset) === 10 && text.charCodeAt(offset - 1) === 13) break;
    start = nl;
    line++;
  }
  return { line, character: offset - start };
}

/**
 * The one edit that turns `before` into `after` (common prefix and suffix kept), or undefined when
 * they are equal. The cut never splits a surrogate pair or a "\r\n".
 */
export function singleEdit(before: string, after: string): RawEdit | undefined {
  if (before === after) return undefined;
  const max = Math.min(before.length, after.length);
  let p = 0;
  while (p < max && before.charCodeAt(p) === after.charCodeAt(p)) p++;
  if (p > 0 && (splitsPair(before, p) || splitsPair(after, p))) p--;
  let s = 0;
  while (s < max - p && before.charCodeAt(before.length - 1 - s) === after.charCodeAt(after.length - 1 - s)) s++;
  if (s > 0 && (splitsPair(before, before.length - s) || splitsPair(after, after.length - s))) s--;
  return {
    range: { start: positionOf(before, p), end: positionOf(before, before.length - s) },
    text: after.slice(p, after.length - s),
  };
}

function splitsPair(text: string, at: number): boolean {
  const a = text.charCodeAt(at - 1);
  const b = text.charCodeAt(at);
  return (a >= 0xd800 && a <= 0xdbff && b >= 0xdc00 && b <= 0xdfff) || (a === 13 && b === 10);
}
