/**
 * Topics are dotted names (`fs.file.changed`). Patterns add two wildcards:
 *   `*`  matches exactly one segment   (`fs.*.changed` matches `fs.file.changed`)
 *   `**` matches zero or more segments (`fs.**` matches `fs`, `fs.file`, `fs.file.changed`)
 * A wildcard must be a whole segment; `f*` is an error.
 *
 * Matching never backtracks more than to the last `**` seen, so it costs at most
 * O(pattern segments × topic segments) whatever the pattern (crafted `**.a.**.a.…` patterns
 * took the old recursive matcher exponential time).
 */
import { IcpyError } from '../errors.js';

const SEGMENT = /^[A-Za-z0-9_\-:@$]+$/;

/** Bounds on the patterns one subscription (or one history query) may carry. */
export interface PatternLimits {
  /** Characters in one pattern. */
  maxPatternLength: number;
  /** Dotted segments in one pattern. */
  maxPatternSegments: number;
  /** Patterns in one subscription / query. */
  maxPatternsPerSubscription: number;
}

export const DEFAULT_PATTERN_LIMITS: PatternLimits = {
  maxPatternLength: 256,
  maxPatternSegments: 16,
  maxPatternsPerSubscription: 32,
};

export function assertTopic(topic: string): void {
  if (typeof topic !== 'string' || topic.length === 0 || topic.length > 256) {
    throw new IcpyError('INVALID_PARAMS', `Invalid topic: must be 1-256 characters`, { field: 'topic' });
  }
  for (const seg of topic.split('.')) {
    if (!SEGMENT.test(seg)) {
      throw new IcpyError('INVALID_PARAMS', `Invalid topic '${topic}': segment '${seg}' must match ${SEGMENT}`, {
        field: 'topic',
      });
    }
  }
}

/**
 * One pattern is well formed and within the length and segment bounds; else INVALID_PARAMS
 * naming `field` (with `data.limit`/`data.max` when a bound was passed).
 */
export function assertPattern(pattern: string, field = 'patterns', limits: PatternLimits = DEFAULT_PATTERN_LIMITS): void {
  if (typeof pattern !== 'string' || pattern.length === 0) {
    throw new IcpyError('INVALID_PARAMS', `${field}: a pattern must be a non-empty string`, { field });
  }
  if (pattern.length > limits.maxPatternLength) {
    throw new IcpyError('INVALID_PARAMS', `${field}: pattern of ${pattern.length} characters exceeds maxPatternLength (${limits.maxPatternLength})`, {
      field,
      limit: 'maxPatternLength',
      max: limits.maxPatternLength,
    });
  }
  const segs = pattern.split('.');
  if (segs.length > limits.maxPatternSegments) {
    throw new IcpyError('INVALID_PARAMS', `${field}: pattern of ${segs.length} segments exceeds maxPatternSegments (${limits.maxPatternSegments})`, {
      field,
      limit: 'maxPatternSegments',
      max: limits.maxPatternSegments,
    });
  }
  for (const seg of segs) {
    if (seg === '*' || seg === '**') continue;
    if (!SEGMENT.test(seg)) {
      throw new IcpyError(
        'INVALID_PARAMS',
        `Invalid pattern '${pattern.length > 64 ? pattern.slice(0, 64) + '…' : pattern}' (${field}): segment '${seg.slice(0, 64)}' must be '*', '**' or match ${SEGMENT}`,
        { field },
      );
    }
  }
}

/**
 * The patterns of one subscription or history query: a non-empty array (INVALID_PARAMS), at most
 * `maxPatternsPerSubscription` of them (LIMIT_EXCEEDED), each valid (INVALID_PARAMS `patterns.i`).
 */
export function assertPatterns(patterns: readonly string[], limits: PatternLimits = DEFAULT_PATTERN_LIMITS, field = 'patterns'): void {
  if (!Array.isArray(patterns) || patterns.length === 0) {
    throw new IcpyError('INVALID_PARAMS', `${field}: at least one pattern is required`, { field });
  }
  if (patterns.length > limits.maxPatternsPerSubscription) {
    throw new IcpyError(
      'LIMIT_EXCEEDED',
      `${field}: ${patterns.length} patterns exceed maxPatternsPerSubscription (${limits.maxPatternsPerSubscription})`,
      { limit: 'maxPatternsPerSubscription', max: limits.maxPatternsPerSubscription, field },
    );
  }
  for (let i = 0; i < patterns.length; i++) assertPattern(patterns[i]!, `${field}.${i}`, limits);
}

export function isWildcard(pattern: string): boolean {
  return pattern.includes('*');
}

/** A compiled matcher for one pattern; matching works on pre-split segments. */
export function compilePattern(pattern: string): (segments: readonly string[]) => boolean {
  const raw = pattern.split('.');
  if (!isWildcard(pattern)) {
    return (segs) => segs.length === raw.length && segs.every((s, i) => s === raw[i]);
  }
  // `**.**` means the same as `**`; collapsing keeps the loop below simple.
  const parts: string[] = [];
  for (const p of raw) if (!(p === '**' && parts[parts.length - 1] === '**')) parts.push(p);
  const n = parts.length;
  return (segs) => {
    // Greedy match with one resume point (the last `**`): a later `**` can absorb anything an
    // earlier one could, so retrying only from the last is complete — the classic linear glob
    // match, with `*` as one segment and `**` as any run of segments.
    const m = segs.length;
    let pi = 0;
    let si = 0;
    let starP = -1; // index in parts of the last `**` seen
    let starS = 0; // topic index that `**` is currently extended to
    while (si < m) {
      const p = pi < n ? parts[pi] : undefined;
      if (p === '**') {
        starP = pi++;
        starS = si;
      } else if (p !== undefined && (p === '*' || p === segs[si])) {
        pi++;
        si++;
      } else if (starP >= 0) {
        pi = starP + 1;
        si = ++starS;
      } else {
        return false;
      }
    }
    while (pi < n && parts[pi] === '**') pi++;
    return pi === n;
  };
}

export function topicMatches(pattern: string, topic: string): boolean {
  return compilePattern(pattern)(topic.split('.'));
}
