import { IcpyError } from '../../core/errors.js';
import { DeltaBuilder, type DeltaOp } from './delta.js';
import { lineStarts, offsetAt, type LspRange } from './positions.js';

export interface TextEdit {
  range: LspRange;
  text: string;
}

const LONE_SURROGATES = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * LSP TextEdit[] semantics: every range refers to the same text (`base`), ranges must not
 * overlap (INVALID_PARAMS naming `edits[i].range`), and inserts at one position apply in array
 * order. Returns one delta over `base`.
 */
export function editsToDelta(base: string, edits: readonly TextEdit[]): DeltaOp[] {
  const starts = lineStarts(base);
  const spans = edits.map((e, i) => {
    const field = `edits[${i}].range`;
    const start = offsetAt(base, starts, e.range.start, `${field}.start`);
    const end = offsetAt(base, starts, e.range.end, `${field}.end`);
    if (end < start) throw new IcpyError('INVALID_PARAMS', `${field}: end is before start`, { field });
    return { start, end, text: e.text, i };
  });
  spans.sort((a, b) => a.start - b.start || a.end - b.end || a.i - b.i);
  const out = new DeltaBuilder();
  let at = 0;
  for (let k = 0; k < spans.length; k++) {
    const s = spans[k]!;
    if (s.start < at) {
      const field = `edits[${s.i}].range`;
      throw new IcpyError('INVALID_PARAMS', `${field} overlaps edits[${spans[k - 1]!.i}].range`, { field });
    }
    out.retain(s.start - at);
    out.delete(s.end - s.start);
    // An unpaired surrogate (JSON can carry "\ud83d") cannot be saved as UTF-8: it becomes
    // U+FFFD now, as it would on disk, so the live text and the file agree.
    out.insert(s.text.replace(LONE_SURROGATES, '\ufffd'));
    at = s.end;
  }
  return out.done();
}

/** Length change a delta makes (to check a size limit before applying it). */
export function lengthChange(ops: readonly DeltaOp[]): number {
  let n = 0;
  for (const op of ops) {
    if ('insert' in op) n += op.insert.length;
    else if ('delete' in op) n -= op.delete;
  }
  return n;
}
