/**
 * Nesting depth and encoded size of JSON-like values, measured without recursion (a value nested
 * 100,000 deep must not overflow the stack of the code that checks it). Depth counts containers:
 * a primitive is 0, `{}` and `[]` are 1, `{"a":[1]}` is 2.
 */

export interface ValueShape {
  /** Path to the first container found at depth `maxDepth + 1` (the walk stops there). */
  tooDeepAt?: (string | number)[];
  /**
   * True when every container is a plain object (prototype Object.prototype or null) or an array
   * and no leaf is a bigint: `JSON.stringify` of such a value cannot throw (depth being bounded)
   * and its length is at most `maxBytes`.
   */
  plain: boolean;
  /** Rough JSON size (strings counted once), for memory accounting. */
  approxBytes: number;
  /** Upper bound of the UTF-8 bytes of its JSON when `plain` (6 bytes per UTF-16 unit of strings). */
  maxBytes: number;
}

const NUMBER_BOUND = 24; // "-1.2345678901234567e-308"

/** One visit per container and entry; a primitive costs nothing. A cycle reports as too deep. */
export function inspectValue(value: unknown, maxDepth: number): ValueShape {
  if (typeof value === 'string') return { plain: true, approxBytes: value.length + 2, maxBytes: value.length * 6 + 2 };
  if (typeof value !== 'object' || value === null) {
    return { plain: typeof value !== 'bigint', approxBytes: 8, maxBytes: NUMBER_BOUND };
  }
  if (maxDepth < 1) return { tooDeepAt: [], plain: false, approxBytes: 0, maxBytes: 0 };
  const bound = plainJsonBound(value, maxDepth);
  if (bound >= 0) return { plain: true, approxBytes: acc.chars + acc.other, maxBytes: bound };
  if (!acc.shallowDone) return walk(value, maxDepth);
  return { plain: false, approxBytes: acc.chars + acc.other, maxBytes: acc.chars * 6 + acc.other };
}

/**
 * The hot path of `inspectValue` (every publish), without allocating: the upper bound of the
 * UTF-8 bytes of `value`'s JSON when it is plain and at most `maxDepth` deep, else -1 (then
 * `inspectValue` says why). `lastApproxBytes()` gives the rough size of the value just measured.
 */
export function plainJsonBound(value: unknown, maxDepth: number): number {
  acc.shallowDone = false;
  if (typeof value === 'string') {
    acc.chars = value.length;
    acc.other = 2;
    return value.length * 6 + 2;
  }
  acc.chars = 0;
  acc.other = 8;
  if (typeof value !== 'object' || value === null) return typeof value === 'bigint' ? -1 : NUMBER_BOUND;
  if (maxDepth < 1) return -1;
  // Most event data is one flat plain object (a path, a size, a kind): measured here in locals,
  // with no call per entry — a third of a one-subscriber publish went to `shallow` and `leaf`.
  // Anything else in it (a container, a bigint, a function) goes the general way below.
  if (!Array.isArray(value)) {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      let chars = 0;
      let other = 2;
      let flat = true;
      for (const k in value) {
        const v: unknown = (value as Record<string, unknown>)[k];
        chars += k.length;
        if (typeof v === 'string') {
          chars += v.length;
          other += 6;
        } else if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) {
          other += 4 + NUMBER_BOUND;
        } else {
          flat = false;
          break;
        }
      }
      if (flat) {
        acc.chars = chars;
        acc.other = other;
        acc.plain = true;
        acc.shallowDone = true;
        return chars * 6 + other;
      }
    }
  }
  // Most values are a few levels deep: a bounded recursion (it cannot overflow) is several times
  // cheaper than the explicit stack of `walk`, which takes over for anything deeper.
  acc.other = 0;
  acc.plain = true;
  if (!shallow(value, 1, Math.min(maxDepth, SHALLOW_DEPTH))) return -1;
  acc.shallowDone = true;
  return acc.plain ? acc.chars * 6 + acc.other : -1;
}

export function lastApproxBytes(): number {
  return acc.chars + acc.other;
}

const SHALLOW_DEPTH = 8;
// Accumulators of `shallow` (synchronous and not re-entrant, so module state is safe).
const acc = { chars: 0, other: 0, plain: true, shallowDone: false };

/** Measure `o` (at depth `level`) recursively; false when it nests deeper than `cap`. */
function shallow(o: object, level: number, cap: number): boolean {
  acc.other += 2;
  if (Array.isArray(o)) {
    for (let i = 0; i < o.length; i++) {
      const v: unknown = o[i];
      acc.other += 1;
      if (!leaf(v) && (level >= cap || !shallow(v as object, level + 1, cap))) return false;
    }
    return true;
  }
  const proto: unknown = Object.getPrototypeOf(o);
  if (proto !== Object.prototype && proto !== null) acc.plain = false;
  // for…in sees inherited keys only on non-plain objects, which are encoded for real anyway.
  for (const k in o) {
    const v: unknown = (o as Record<string, unknown>)[k];
    acc.chars += k.length;
    acc.other += 4;
    if (!leaf(v) && (level >= cap || !shallow(v as object, level + 1, cap))) return false;
  }
  return true;
}

/** Account for a primitive; false for a container. */
function leaf(v: unknown): boolean {
  if (typeof v === 'string') {
    acc.chars += v.length;
    acc.other += 2;
    return true;
  }
  if (typeof v === 'object' && v !== null) return false;
  if (typeof v === 'bigint') acc.plain = false;
  acc.other += NUMBER_BOUND;
  return true;
}

/** The explicit-stack walk: any depth, any size, names the path where `maxDepth` is passed. */
function walk(value: object, maxDepth: number): ValueShape {
  let plain = isPlainContainer(value);
  let chars = 0; // string and key characters
  let other = 2; // structure, numbers, literals
  // Frames of the containers on the current path; `keys` is null for arrays.
  const objs: object[] = [value];
  const keys: (string[] | null)[] = [Array.isArray(value) ? null : Object.keys(value)];
  const idx: number[] = [0];
  while (objs.length) {
    const top = objs.length - 1;
    const obj = objs[top]!;
    const ks = keys[top]!;
    const i = idx[top]!;
    const len = ks === null ? (obj as unknown[]).length : ks.length;
    if (i >= len) {
      objs.pop();
      keys.pop();
      idx.pop();
      continue;
    }
    idx[top] = i + 1;
    let child: unknown;
    if (ks === null) {
      child = (obj as unknown[])[i];
      other += 1;
    } else {
      const k = ks[i]!;
      child = (obj as Record<string, unknown>)[k];
      chars += k.length;
      other += 4;
    }
    if (typeof child === 'string') {
      chars += child.length;
      other += 2;
      continue;
    }
    if (typeof child !== 'object' || child === null) {
      if (typeof child === 'bigint') plain = false;
      other += NUMBER_BOUND;
      continue;
    }
    if (objs.length >= maxDepth) {
      const path: (string | number)[] = [];
      for (let d = 0; d < objs.length; d++) {
        const at = idx[d]! - 1;
        path.push(keys[d] === null ? at : keys[d]![at]!);
      }
      return { tooDeepAt: path, plain: false, approxBytes: chars + other, maxBytes: chars * 6 + other };
    }
    if (plain && !isPlainContainer(child)) plain = false;
    other += 2;
    objs.push(child);
    keys.push(Array.isArray(child) ? null : Object.keys(child));
    idx.push(0);
  }
  return { plain, approxBytes: chars + other, maxBytes: chars * 6 + other };
}

/** Path to where `value` is nested deeper than `maxDepth`, or undefined when it is not. */
export function findTooDeep(value: unknown, maxDepth: number): (string | number)[] | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  return inspectValue(value, maxDepth).tooDeepAt;
}

function isPlainContainer(o: object): boolean {
  if (Array.isArray(o)) return true;
  const proto: unknown = Object.getPrototypeOf(o);
  return proto === Object.prototype || proto === null;
}

/** A value nested `depth` levels deep (`[[[…]]]` or `{key:{key:…}}`), built without recursion. */
export function nested(depth: number, leaf: unknown = 0, key?: string): unknown {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = key === undefined ? [v] : { [key]: v };
  return v;
}

/**
 * A lower bound of the UTF-8 bytes of `value`'s JSON (its string and key characters), walked
 * without recursion and stopped as soon as it passes `stopAbove`: lets a caller refuse a value
 * that cannot fit a budget without encoding it.
 */
export function jsonMinBytes(value: unknown, stopAbove: number): number {
  if (typeof value === 'string') return value.length + 2;
  if (typeof value !== 'object' || value === null) return 1;
  let n = 0;
  const stack: unknown[] = [value];
  const seen = new Set<object>();
  while (stack.length && n <= stopAbove) {
    const v = stack.pop();
    if (typeof v === 'string') {
      n += v.length + 2;
      continue;
    }
    if (typeof v !== 'object' || v === null || seen.has(v)) continue;
    seen.add(v);
    if (ArrayBuffer.isView(v)) continue;
    n += 2;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push(v[i]);
    } else {
      for (const k of Object.keys(v)) {
        n += k.length + 3;
        stack.push((v as Record<string, unknown>)[k]);
      }
    }
  }
  return n;
}
