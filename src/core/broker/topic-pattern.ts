/**
 * Topics are dotted names (`fs.file.changed`). Patterns add two wildcards:
 *   `*`  matches exactly one segment   (`fs.*.changed` matches `fs.file.changed`)
 *   `**` matches zero or more segments (`fs.**` matches `fs`, `fs.file`, `fs.file.changed`)
 * A wildcard must be a whole segment; `f*` is a literal-free error.
 */
import { IcpyError } from '../errors.js';

const SEGMENT = /^[A-Za-z0-9_\-:@$]+$/;

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

export function assertPattern(pattern: string, field = 'patterns'): void {
  if (typeof pattern !== 'string' || pattern.length === 0 || pattern.length > 256) {
    throw new IcpyError('INVALID_PARAMS', `Invalid pattern: must be 1-256 characters`, { field });
  }
  for (const seg of pattern.split('.')) {
    if (seg === '*' || seg === '**') continue;
    if (!SEGMENT.test(seg)) {
      throw new IcpyError(
        'INVALID_PARAMS',
        `Invalid pattern '${pattern}': segment '${seg}' must be '*', '**' or match ${SEGMENT}`,
        { field },
      );
    }
  }
}

export function isWildcard(pattern: string): boolean {
  return pattern.includes('*');
}

/** A compiled matcher for one pattern; matching works on pre-split segments. */
export function compilePattern(pattern: string): (segments: readonly string[]) => boolean {
  const parts = pattern.split('.');
  if (!isWildcard(pattern)) {
    return (segs) => segs.length === parts.length && segs.every((s, i) => s === parts[i]);
  }
  const match = (pi: number, si: number, segs: readonly string[]): boolean => {
    for (;;) {
      if (pi === parts.length) return si === segs.length;
      const p = parts[pi];
      if (p === '**') {
        if (pi === parts.length - 1) return true;
        for (let k = si; k <= segs.length; k++) if (match(pi + 1, k, segs)) return true;
        return false;
      }
      if (si === segs.length) return false;
      if (p !== '*' && p !== segs[si]) return false;
      pi++;
      si++;
    }
  };
  return (segs) => match(0, 0, segs);
}

export function topicMatches(pattern: string, topic: string): boolean {
  return compilePattern(pattern)(topic.split('.'));
}
