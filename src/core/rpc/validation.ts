import type { z } from 'zod';
import { IcpyError } from '../errors.js';

export function formatPath(path: readonly PropertyKey[]): string {
  return path.map(String).join('.');
}

/** Turn a zod failure into INVALID_PARAMS naming each offending field. */
export function invalidParams(error: z.ZodError, what = 'params'): IcpyError {
  const issues = error.issues.map((i) => {
    // Unknown keys are reported on the parent; name them as fields.
    const keys = i.code === 'unrecognized_keys' ? (i as { keys: string[] }).keys : undefined;
    const field = keys ? keys.map((k) => formatPath([...i.path, k])).join(', ') : formatPath(i.path);
    return { field: field || '(root)', message: i.message };
  });
  const text = issues.map((i) => `${i.field}: ${i.message}`).join('; ');
  return new IcpyError('INVALID_PARAMS', `Invalid ${what}: ${text}`, { field: issues[0]?.field, issues });
}
