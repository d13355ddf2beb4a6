import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';

/**
 * The y-protocols awareness update encoding: varUint count, then per client varUint clientID,
 * varUint clock, varString JSON state (`null` = the client is gone). Used to inject the states of
 * clients that do not speak Yjs, and to screen what a peer sends before it is applied and relayed.
 */
export interface AwarenessEntry {
  clientId: number;
  clock: number;
  /** The state's JSON text as sent (`null` for a removal). */
  json: string;
}

/** Most bytes one client's awareness state may take (its JSON text, UTF-8). Cursor + user ≈ 300 bytes. */
export const MAX_AWARENESS_STATE_BYTES = 16 * 1024;

export function encodeAwareness(entries: readonly AwarenessEntry[]): Uint8Array {
  const enc = encoding.createEncoder();
  encoding.writeVarUint(enc, entries.length);
  for (const e of entries) {
    encoding.writeVarUint(enc, e.clientId);
    encoding.writeVarUint(enc, e.clock);
    encoding.writeVarString(enc, e.json);
  }
  return encoding.toUint8Array(enc);
}

/** Decode an awareness update; throws on malformed bytes (truncated, bad varints). */
export function decodeAwareness(update: Uint8Array): AwarenessEntry[] {
  const dec = decoding.createDecoder(update);
  const count = decoding.readVarUint(dec);
  const out: AwarenessEntry[] = [];
  for (let i = 0; i < count; i++) {
    // Each entry needs at least 3 bytes: a count beyond what is left is a lie, not a reason to loop.
    if (dec.arr.length - dec.pos < 3) throw new RangeError('awareness update is truncated');
    const clientId = decoding.readVarUint(dec);
    const clock = decoding.readVarUint(dec);
    const json = decoding.readVarString(dec);
    out.push({ clientId, clock, json });
  }
  return out;
}

export interface ScreenResult {
  /** The update to apply (and so relay): the input itself when nothing was dropped, undefined when nothing is left. */
  update: Uint8Array | undefined;
  /** Why states were left out (for a log line); empty when none was. */
  dropped: { clientId: number; reason: 'too-large' | 'not-json' | 'reserved' }[];
}

/**
 * Screen a peer's awareness update before it reaches the room's Awareness: a state over
 * `maxStateBytes`, a state that is not JSON, or one that claims a client id the server injects for
 * an RPC client (`reserved`) is dropped — never applied, so never relayed to other peers. Malformed
 * bytes throw (the caller answers INVALID_PARAMS / closes the peer).
 */
export function screenAwarenessUpdate(
  update: Uint8Array,
  opts: { maxStateBytes?: number; reserved?: (clientId: number) => boolean } = {},
): ScreenResult {
  const max = opts.maxStateBytes ?? MAX_AWARENESS_STATE_BYTES;
  const entries = decodeAwareness(update);
  const kept: AwarenessEntry[] = [];
  const dropped: ScreenResult['dropped'] = [];
  for (const e of entries) {
    if (opts.reserved?.(e.clientId)) dropped.push({ clientId: e.clientId, reason: 'reserved' });
    else if (e.json.length > max || Buffer.byteLength(e.json, 'utf8') > max) dropped.push({ clientId: e.clientId, reason: 'too-large' });
    else if (!isJson(e.json)) dropped.push({ clientId: e.clientId, reason: 'not-json' });
    else kept.push(e);
  }
  if (dropped.length === 0) return { update, dropped };
  return { update: kept.length ? encodeAwareness(kept) : undefined, dropped };
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
