import fastDiff from 'fast-diff';
import { DeltaBuilder, transform, type DeltaOp } from './delta.js';

/** Above this many changed characters (after the common prefix and suffix), diff lines first. */
const CHAR_DIFF_MAX = 20_000;
/** Distinct lines a line-level diff can name (one UTF-16 unit each, surrogates skipped). */
const MAX_LINE_IDS = 0xffff - 0x800;

/**
 * A minimal delta turning `from` into `to` (retain/delete/insert over `from`), so applying it to
 * a Y.Text keeps every unchanged character — and the cursors and concurrent edits anchored there.
 * Small changes are diffed by character (fast-diff, surrogate-pair safe); large ones by line
 * first, then by character inside each changed block that is small enough, so the cost stays
 * near-linear for a 2 M-character document.
 */
export function diffDelta(from: string, to: string): DeltaOp[] {
  const out = new DeltaBuilder();
  let pre = 0;
  const max = Math.min(from.length, to.length);
  while (pre < max && from.charCodeAt(pre) === to.charCodeAt(pre)) pre++;
  let suf = 0;
  while (suf < max - pre && from.charCodeAt(from.length - 1 - suf) === to.charCodeAt(to.length - 1 - suf)) suf++;
  // never split a surrogate pair at either cut
  if (pre > 0 && isHigh(from.charCodeAt(pre - 1))) pre--;
  if (suf > 0 && isLow(from.charCodeAt(from.length - suf))) suf--;
  out.retain(pre);
  const a = from.slice(pre, from.length - suf);
  const b = to.slice(pre, to.length - suf);
  if (a.length + b.length <= CHAR_DIFF_MAX) charDiff(out, a, b);
  else lineDiff(out, a, b);
  return out.done();
}

/** Characters deleted plus inserted by the minimal delta from `from` to `to` (how far apart they are). */
export function changeSize(from: string, to: string): number {
  let n = 0;
  for (const op of diffDelta(from, to)) n += 'delete' in op ? op.delete : 'insert' in op ? op.insert.length : 0;
  return n;
}

/**
 * Which of `bases` another program most likely started from to write `theirs`: the one needing
 * the fewest changed characters (the first on a tie). For a write that raced a save, whose writer
 * may have read the file before the save or after it.
 */
export function likeliestBase(bases: readonly string[], theirs: string): string {
  let best = bases[0]!;
  let bestSize = Infinity;
  for (const b of bases) {
    const size = changeSize(b, theirs);
    if (size < bestSize) [best, bestSize] = [b, size];
  }
  return best;
}

function isHigh(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}
function isLow(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/** An unpaired UTF-16 surrogate (JSON can carry one: "\ud83d"). */
export const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function charDiff(out: DeltaBuilder, a: string, b: string): void {
  if (!a) return void out.insert(b);
  if (!b) return void out.delete(a.length);
  // fast-diff recurses without end on unpaired surrogates (a stack overflow): replace the block whole.
  if (LONE_SURROGATE.test(a) || LONE_SURROGATE.test(b)) {
    out.delete(a.length);
    out.insert(b);
    return;
  }
  for (const [kind, s] of fastDiff(a, b)) {
    if (kind === 0) out.retain(s.length);
    else if (kind === -1) out.delete(s.length);
    else out.insert(s);
  }
}

function splitLines(s: string): string[] {
  return s.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

function lineDiff(out: DeltaBuilder, a: string, b: string): void {
  const ids = new Map<string, string>();
  const encode = (lines: string[]): string | undefined => {
    let s = '';
    for (const line of lines) {
      let id = ids.get(line);
      if (id === undefined) {
        if (ids.size >= MAX_LINE_IDS) return undefined;
        const n = ids.size + 1;
        id = String.fromCharCode(n < 0xd800 ? n : n + 0x800);
        ids.set(line, id);
      }
      s += id;
    }
    return s;
  };
  const la = splitLines(a);
  const lb = splitLines(b);
  const ea = encode(la);
  const eb = encode(lb);
  if (ea === undefined || eb === undefined) {
    out.delete(a.length);
    out.insert(b);
    return;
  }
  let ia = 0;
  let ib = 0;
  let delText = '';
  let insText = '';
  const flush = () => {
    if (delText.length + insText.length <= CHAR_DIFF_MAX) charDiff(out, delText, insText);
    else {
      out.delete(delText.length);
      out.insert(insText);
    }
    delText = '';
    insText = '';
  };
  for (const [kind, s] of fastDiff(ea, eb)) {
    if (kind === 0) {
      flush();
      for (let k = 0; k < s.length; k++) out.retain(la[ia++]!.length);
      ib += s.length;
    } else if (kind === -1) for (let k = 0; k < s.length; k++) delText += la[ia++]!;
    else for (let k = 0; k < s.length; k++) insText += lb[ib++]!;
  }
  flush();
}

const isSurrogate = (c: number) => (c & 0xf800) === 0xd800;

/**
 * The same delta with every pure insert slid as far right as the text allows: inserting "\nx"
 * before a "\n" is inserting "x\n" after it. A diff may place an insert anywhere along such a run;
 * sliding puts two diffs that made the same insert at the same point, so a merge can see they are
 * one change. Never slides over a surrogate half or past a delete.
 */
export function slideInsertsRight(ops: readonly DeltaOp[], base: string): DeltaOp[] {
  const out = new DeltaBuilder();
  let at = 0; // position in base
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if ('retain' in op) {
      out.retain(op.retain);
      at += op.retain;
    } else if ('delete' in op) {
      out.delete(op.delete);
      at += op.delete;
    } else {
      const next = ops[i + 1];
      let ins = op.insert;
      let moved = 0;
      // A delta ends with an implicit retain of the rest of the text.
      const room = next ? ('retain' in next ? next.retain : 0) : base.length - at;
      // Rotate one unit at a time while the first inserted unit equals the base unit after it.
      while (moved < room && ins.charCodeAt(0) === base.charCodeAt(at + moved) && !isSurrogate(ins.charCodeAt(0))) {
        ins = ins.slice(1) + ins[0];
        moved++;
      }
      out.retain(moved);
      out.insert(ins);
      at += moved;
      if (next && 'retain' in next) {
        out.retain(next.retain - moved);
        at += next.retain - moved;
        i++;
      }
    }
  }
  return out.done();
}

/**
 * The delta that merges the file's text on disk into the live document: the disk's change since
 * `base` (the text as last synced with disk) rebased over the live document's unsaved change since
 * that same text. A change both made (a program saved a buffer holding the unsaved typing) is
 * applied once, not twice.
 */
export function diskMergeDelta(base: string, disk: string, live: string): DeltaOp[] {
  const theirs = slideInsertsRight(diffDelta(base, live), base);
  const mine = slideInsertsRight(diffDelta(base, disk), base);
  return transform(mine, theirs, { sameInserts: 'once' });
}
