import { IcpyError } from '../../core/errors.js';

/** Longest lifetime a credential may be given: a year. */
export const MAX_EXPIRES_IN_MS = 366 * 24 * 3600 * 1000;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `30m`, `12h`, `7d`, `90s`, `500ms`, or a number of milliseconds → milliseconds (1 ms to a year).
 * INVALID_PARAMS naming `expiresIn` otherwise.
 */
export function parseExpiresIn(value: string | number): number {
  let ms: number | undefined;
  if (typeof value === 'number') ms = value;
  else {
    const m = /^(\d{1,12})(ms|s|m|h|d)?$/.exec(value.trim());
    if (m) ms = Number(m[1]) * UNIT_MS[m[2] ?? 'ms']!;
  }
  if (ms === undefined || !Number.isInteger(ms) || ms < 1 || ms > MAX_EXPIRES_IN_MS) {
    throw new IcpyError('INVALID_PARAMS', `expiresIn: a duration like 30m, 12h, 7d (or milliseconds), at most 366d; got '${String(value).slice(0, 40)}'`, {
      field: 'expiresIn',
    });
  }
  return ms;
}
