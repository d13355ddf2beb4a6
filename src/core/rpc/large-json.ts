import { randomUUID } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { largeWork, SLICE_CHARS } from '../turns.js';

/** Where a holder keeps the bytes its large strings were decoded from (see `withStringSource`). */
const SOURCES = Symbol('icpy.stringSources');

interface StringSource {
  text: string;
  bytes: Buffer;
  encoding: 'utf8' | 'base64';
}

type Holder = { [SOURCES]?: Record<string, StringSource> };

/**
 * Note that `holder[key]` is `bytes` decoded as `encoding`, so `encodeLargeJson` escapes it from
 * the bytes instead of the string: a string built from slices (a large file read) is a rope that
 * V8 flattens, all 8 MiB in one step, on the first slice taken of it; the bytes need no flatten
 * and no re-encoding to UTF-8. UTF-8 is noted only when the bytes are valid UTF-8 (then the text
 * is exactly their decode). The note is an own enumerable symbol property: object spread keeps
 * it, JSON ignores it. Returns `holder`.
 */
export function withStringSource<T extends object>(holder: T, key: keyof T & string, bytes: Buffer, encoding: 'utf8' | 'base64'): T {
  const text = (holder as Record<string, unknown>)[key];
  if (typeof text !== 'string' || text.length <= SLICE_CHARS) return holder;
  if (encoding === 'utf8' && !isUtf8(bytes)) return holder;
  const h = holder as Holder;
  h[SOURCES] = { ...h[SOURCES], [key]: { text, bytes, encoding } };
  return holder;
}

/**
 * JSON-encode a value holding large strings (a file's content) without one long block: the
 * value is stringified with each string over `SLICE_CHARS` left out (a placeholder no input can
 * forge: a random tag per call), then each such string is escaped slice by slice, one slice per
 * turn of `largeWork`, straight into UTF-8 buffers — from its source bytes when the holder noted
 * them (`withStringSource`). Same text as `JSON.stringify(value)`, except that a surrogate pair
 * is never split and a lone surrogate at a slice edge is escaped alike. Returns the pieces, in
 * order (the transport writes them as they are: no copy of the whole reply).
 */
export async function encodeLargeJson(value: unknown): Promise<Buffer[]> {
  const big: (string | StringSource)[] = [];
  const tag = `\u0000${randomUUID()}:`;
  const skeleton = JSON.stringify(value, function (this: Holder, key: string, v: unknown) {
    if (typeof v === 'string' && v.length > SLICE_CHARS) {
      const source = this[SOURCES]?.[key];
      big.push(source?.text === v ? source : v); // the very string it was noted for (not one changed since)
      return tag + (big.length - 1);
    }
    return v;
  });
  if (skeleton === undefined) return [Buffer.from('null')];
  const out: Buffer[] = [];
  const encodedTag = JSON.stringify(tag).slice(0, -1); // `"\u0000<uuid>:` (opening quote kept)
  let at = 0;
  for (let n = 0; n < big.length; n++) {
    const marker = `${encodedTag}${n}"`;
    const i = skeleton.indexOf(marker, at);
    if (i < 0) throw new Error('encodeLargeJson: placeholder not found');
    out.push(Buffer.from(skeleton.slice(at, i) + '"'));
    const s = big[n]!;
    if (typeof s === 'string') await escapeSliced(s, out);
    else await escapeBytesSliced(s, out);
    out.push(Buffer.from('"'));
    at = i + marker.length;
  }
  out.push(Buffer.from(skeleton.slice(at)));
  big.length = 0;
  return out;
}

async function escapeSliced(s: string, out: Buffer[]): Promise<void> {
  for (let i = 0; i < s.length; ) {
    await largeWork.take();
    let end = Math.min(i + SLICE_CHARS, s.length);
    const last = s.charCodeAt(end - 1);
    if (end < s.length && last >= 0xd800 && last <= 0xdbff) end--; // keep a surrogate pair whole
    out.push(Buffer.from(JSON.stringify(s.slice(i, end)).slice(1, -1)));
    i = end;
  }
}

/**
 * The JSON string body of a source's text, from its bytes. Base64 needs no escape. Valid UTF-8
 * is escaped byte for byte: read as Latin-1, each byte is one character, and JSON.stringify
 * escapes exactly the bytes it would escape in the decoded text (`"`, `\`, below 0x20 — all
 * ASCII, and no byte of a multi-byte UTF-8 sequence is ASCII) while leaving 0x80–0xFF alone, so
 * writing the result back as Latin-1 gives the text's escaped UTF-8 — at any slice edge.
 */
async function escapeBytesSliced({ bytes, encoding }: StringSource, out: Buffer[]): Promise<void> {
  const step = encoding === 'base64' ? SLICE_CHARS - (SLICE_CHARS % 3) : SLICE_CHARS;
  for (let i = 0; i < bytes.length; ) {
    await largeWork.take();
    const end = Math.min(i + step, bytes.length);
    if (encoding === 'base64') out.push(Buffer.from(bytes.toString('base64', i, end), 'latin1'));
    else out.push(Buffer.from(JSON.stringify(bytes.toString('latin1', i, end)), 'latin1').subarray(1, -1));
    i = end;
  }
}
