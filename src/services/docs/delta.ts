/**
 * Text deltas (the Yjs/Quill shape: retain, delete, insert, left to right over a base text) and
 * the two operations the service needs: transform (rebase one delta over a concurrent one) and
 * invert (undo one, given the text it deleted). Only the shape is shared with Y.Text.applyDelta.
 */
export type DeltaOp = { retain: number } | { delete: number } | { insert: string };

/** A delta that also records the text each `delete` removed, so it can be inverted. */
export type RecordedOp = { retain: number } | { delete: number; text: string } | { insert: string };

class OpIter {
  private i = 0;
  private used = 0;
  constructor(private readonly ops: readonly DeltaOp[]) {}
  hasNext(): boolean {
    return this.i < this.ops.length;
  }
  peek(): DeltaOp | undefined {
    return this.ops[this.i];
  }
  peekLength(): number {
    const op = this.ops[this.i];
    if (!op) return Infinity;
    return ('retain' in op ? op.retain : 'delete' in op ? op.delete : op.insert.length) - this.used;
  }
  /** Take up to `n` units of a retain or delete (the current op must be one). */
  take(n: number): void {
    this.used += n;
    if (this.peekLength() === 0) {
      this.i++;
      this.used = 0;
    }
  }
  /** The rest of the current insert. */
  peekInsert(): string {
    return (this.ops[this.i] as { insert: string }).insert.slice(this.used);
  }
  /** Skip the first `n` characters of the current insert. */
  skipInsert(n: number): void {
    this.used += n;
    if (this.peekLength() === 0) {
      this.i++;
      this.used = 0;
    }
  }
  takeInsert(): string {
    const op = this.ops[this.i] as { insert: string };
    const s = op.insert.slice(this.used);
    this.i++;
    this.used = 0;
    return s;
  }
}

/** Appends ops, merging neighbours of one kind and dropping empty ones. */
export class DeltaBuilder {
  readonly ops: DeltaOp[] = [];
  retain(n: number): this {
    if (n <= 0) return this;
    const last = this.ops[this.ops.length - 1];
    if (last && 'retain' in last) last.retain += n;
    else this.ops.push({ retain: n });
    return this;
  }
  delete(n: number): this {
    if (n <= 0) return this;
    const last = this.ops[this.ops.length - 1];
    if (last && 'delete' in last) last.delete += n;
    else this.ops.push({ delete: n });
    return this;
  }
  insert(s: string): this {
    if (!s) return this;
    const last = this.ops[this.ops.length - 1];
    if (last && 'insert' in last) last.insert += s;
    else this.ops.push({ insert: s });
    return this;
  }
  /** The ops without a trailing retain. */
  done(): DeltaOp[] {
    const last = this.ops[this.ops.length - 1];
    if (last && 'retain' in last) this.ops.pop();
    return this.ops;
  }
}

/**
 * `mine` rebased to apply after `theirs` (both deltas over the same text). Their inserts at the
 * point of one of mine go first; text they deleted is no longer mine to retain or delete, and
 * text they inserted inside a range I delete survives (nothing a concurrent writer typed is lost).
 *
 * `sameInserts: 'once'` (merging a file's text on disk into the live document): where both insert
 * at the same point, the text they share at its start is inserted once. A program that saved a
 * buffer holding the live document's unsaved typing (an agent that read `docs.get`, then
 * `files.write`) made the same insert the live document already has; applying both would type it
 * twice. Between two people typing (`'both'`, the default) both inserts are kept.
 */
export function transform(mine: readonly DeltaOp[], theirs: readonly DeltaOp[], opts: { sameInserts?: 'both' | 'once' } = {}): DeltaOp[] {
  const once = opts.sameInserts === 'once';
  const a = new OpIter(mine);
  const b = new OpIter(theirs);
  const out = new DeltaBuilder();
  while (a.hasNext()) {
    const bo = b.peek();
    if (bo && 'insert' in bo) {
      const ao = a.peek()!;
      const theirsText = b.takeInsert();
      out.retain(theirsText.length);
      if (once && 'insert' in ao) a.skipInsert(commonPrefix(a.peekInsert(), theirsText));
      continue;
    }
    const ao = a.peek()!;
    if ('insert' in ao) {
      out.insert(a.takeInsert());
      continue;
    }
    const n = Math.min(a.peekLength(), b.peekLength());
    const theyDeleted = bo !== undefined && 'delete' in bo;
    if (!theyDeleted) {
      if ('delete' in ao) out.delete(n);
      else out.retain(n);
    }
    a.take(n);
    if (bo) b.take(n);
  }
  return out.done();
}

function commonPrefix(x: string, y: string): number {
  const n = Math.min(x.length, y.length);
  let i = 0;
  while (i < n && x.charCodeAt(i) === y.charCodeAt(i)) i++;
  // Never split a surrogate pair.
  if (i > 0 && i < x.length && (x.charCodeAt(i - 1) & 0xfc00) === 0xd800) i--;
  return i;
}

/** Apply a delta to a string (V8 keeps slices and concatenations cheap until the result is read). */
export function applyToString(text: string, ops: readonly DeltaOp[]): string {
  let out = '';
  let at = 0;
  for (const op of ops) {
    if ('retain' in op) {
      out += text.slice(at, at + op.retain);
      at += op.retain;
    } else if ('delete' in op) at += op.delete;
    else out += op.insert;
  }
  return out + text.slice(at);
}

/** The delta that undoes `ops` (applied to the text `ops` produced, it gives back the text before). */
export function invert(ops: readonly RecordedOp[]): DeltaOp[] {
  const out = new DeltaBuilder();
  for (const op of ops) {
    if ('retain' in op) out.retain(op.retain);
    else if ('delete' in op) out.insert(op.text);
    else out.delete(op.insert.length);
  }
  return out.done();
}

/** Without the deleted text (the shape Y.Text.applyDelta and transform take). */
export function plain(ops: readonly RecordedOp[]): DeltaOp[] {
  return ops.map((op) => ('delete' in op ? { delete: op.delete } : op));
}
