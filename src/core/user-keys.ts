import { z } from 'zod';

/** Longest name or key a client may give, in UTF-8 bytes (a file name's limit on most systems). */
export const MAX_NAME_BYTES = 255;

// C0 controls, DEL and C1 controls: invisible, and they break terminal and log output.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// A UTF-16 surrogate without its pair cannot be encoded as UTF-8 (it would come back as U+FFFD).
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * A name chosen by a user (layout name, preference key, terminal name): 1..255 UTF-8 bytes, no
 * control characters, well-formed Unicode. Anything else is INVALID_PARAMS naming the field.
 */
export function userName(description: string) {
  return z
    .string()
    .min(1)
    .max(MAX_NAME_BYTES)
    .refine((s) => Buffer.byteLength(s, 'utf8') <= MAX_NAME_BYTES, { message: `longer than ${MAX_NAME_BYTES} UTF-8 bytes` })
    .refine((s) => !CONTROL.test(s), { message: 'contains a control character' })
    .refine((s) => !LONE_SURROGATE.test(s), { message: 'is not well-formed Unicode (lone surrogate)' })
    .describe(`${description} (1..${MAX_NAME_BYTES} UTF-8 bytes, no control characters)`);
}

/**
 * A JSON object whose keys are chosen by the client. zod (like many JSON clients built on plain
 * objects) silently drops a `__proto__` key, so it is refused with INVALID_PARAMS instead of being
 * lost; every other key (`constructor`, `toString`, …) is an ordinary key.
 */
export function userKeyedRecord<K extends z.ZodType<string, string>, V extends z.ZodType>(key: K, value: V) {
  return z.preprocess((input, ctx) => {
    if (input !== null && typeof input === 'object' && Object.hasOwn(input, '__proto__')) {
      ctx.addIssue({ code: 'custom', message: "the key '__proto__' is reserved", path: ['__proto__'], input });
    }
    return input;
  }, z.record(key, value));
}

/** A plain object built from entries without ever consulting (or replacing) a prototype. */
export function fromEntries<T>(entries: Iterable<readonly [string, T]>): Record<string, T> {
  return Object.fromEntries(entries) as Record<string, T>;
}

/** Own entries only (a stored `{"constructor": …}` is data, never Object.prototype's member). */
export function ownEntries<T>(obj: Record<string, T> | null | undefined): Map<string, T> {
  return new Map(obj ? Object.entries(obj) : []);
}
