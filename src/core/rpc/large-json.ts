import { randomUUID } from 'node:crypto';
import { largeWork, SLICE_CHARS } from '../turns.js';

/**
 * JSON-encode a value holding large strings (a file's content) without one long block: the
 * value is stringified with each string over `SLICE_CHARS` left out (a placeholder no input can
 * forge: a random tag per call), then each such string is escaped slice by slice, one slice per
 * turn of `largeWork`, straight into UTF-8 buffers. Same text as `JSON.stringify(value)`, except
 * that a surrogate pair is never split and a lone surrogate at a slice edge is escaped alike.
 */
export async function encodeLargeJson(value: unknown): Promise<Buffer> {
  const big: string[] = [];
  const tag = `\u0000${randomUUID()}:`;
  const skeleton = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'string' && v.length > SLICE_CHARS) {
      big.push(v);
      return tag + (big.length - 1);
    }
    return v;
  });
  if (skeleton === undefined) return Buffer.from('null');
  const out: Buffer[] = [];
  const encodedTag = JSON.stringify(tag).slice(0, -1); // `"\u0000<uuid>:` (opening quote kept)
  let at = 0;
  for (let n = 0; n < big.length; n++) {
    const marker = `${encodedTag}${n}"`;
    const i = skeleton.indexOf(marker, at);
    if (i < 0) throw new Error('encodeLargeJson: placeholder not found');
    out.push(Buffer.from(skeleton.slice(at, i) + '"'));
    await escapeSliced(big[n]!, out);
    out.push(Buffer.from('"'));
    at = i + marker.length;
  }
  out.push(Buffer.from(skeleton.slice(at)));
  big.length = 0;
  return Buffer.concat(out);
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
