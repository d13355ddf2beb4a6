import fastDiff from 'fast-diff';
import { DeltaBuilder, type DeltaOp } from './delta.js';

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

function isHigh(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}
function isLow(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

function charDiff(out: DeltaBuilder, a: string, b: string): void {
  if (!a) return void out.insert(b);
  if (!b) return void out.delete(a.length);
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
