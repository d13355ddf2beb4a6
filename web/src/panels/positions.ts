import type { Text } from '@codemirror/state';

/** An LSP position: zero-based line, `character` in UTF-16 code units (as CodeMirror offsets). */
export interface LspPosition {
  line: number;
  character: number;
}

export interface LspRange {
  start: LspPosition;
  end: LspPosition;
}

export function offsetToPosition(doc: Text, offset: number): LspPosition {
  const pos = Math.max(0, Math.min(offset, doc.length));
  const line = doc.lineAt(pos);
  return { line: line.number - 1, character: pos - line.from };
}

/**
 * The offset of an LSP position in `doc`, clamped as LSP does: a character past the end of its
 * line means the line's end, and a line past the last (diagnostics computed for an older text)
 * means the end of the document.
 */
export function positionToOffset(doc: Text, pos: LspPosition): number {
  if (pos.line < 0) return 0;
  if (pos.line >= doc.lines) return doc.length;
  const line = doc.line(pos.line + 1);
  return line.from + Math.max(0, Math.min(pos.character, line.length));
}

export function rangeToOffsets(doc: Text, range: LspRange): { from: number; to: number } {
  const from = positionToOffset(doc, range.start);
  const to = positionToOffset(doc, range.end);
  return to < from ? { from: to, to: from } : { from, to };
}
