import * as encoding from 'lib0/encoding';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { IcpyError } from '../../core/errors.js';
import { BroadcastFrames, closeCodeOf, decodeFrame, roomPath, YMessage } from './yjs-gateway.js';

function frame(...parts: (number | Uint8Array)[]): Uint8Array {
  const enc = encoding.createEncoder();
  for (const p of parts) {
    if (typeof p === 'number') encoding.writeVarUint(enc, p);
    else encoding.writeVarUint8Array(enc, p);
  }
  return encoding.toUint8Array(enc);
}

describe('roomPath', () => {
  it('percent-decodes the rest of the path, slashes allowed', () => {
    expect(roomPath('/api/yjs/src/app.py', '/api/yjs/')).toBe('src/app.py');
    expect(roomPath('/api/yjs/my%20dir/%C3%A9t%C3%A9.md', '/api/yjs/')).toBe('my dir/été.md');
  });
  it('refuses bad encodings, NUL and an empty path with INVALID_PARAMS (close 4400)', () => {
    for (const p of ['/api/yjs/%E0%A4%A', '/api/yjs/a%00b', '/api/yjs/']) {
      const r = roomPath(p, '/api/yjs/');
      expect(r).toBeInstanceOf(IcpyError);
      expect(closeCodeOf(r as IcpyError)).toBe(4400);
    }
  });
});

describe('decodeFrame', () => {
  const doc = new Y.Doc();
  doc.getText('content').insert(0, 'hello');
  const update = Y.encodeStateAsUpdate(doc);
  const empty = Y.encodeStateAsUpdate(new Y.Doc());

  it('reads sync step 1, step 2, update, awareness and query-awareness', () => {
    expect(decodeFrame(frame(0, 0, Y.encodeStateVector(doc)), false).kind).toBe('step1');
    expect(decodeFrame(frame(0, 1, update), false)).toMatchObject({ kind: 'update', payload: update });
    expect(decodeFrame(frame(0, 2, update), false).kind).toBe('update');
    expect(decodeFrame(frame(1, new Uint8Array([0])), false).kind).toBe('awareness');
    expect(decodeFrame(frame(3), false).kind).toBe('query-awareness');
  });
  it('ignores unknown message types and auth, as y-websocket does', () => {
    expect(decodeFrame(frame(2, 0), false).kind).toBe('ignored');
    expect(decodeFrame(frame(77), false).kind).toBe('ignored');
  });
  it('throws on truncated frames and unknown sync steps', () => {
    expect(() => decodeFrame(new Uint8Array([0]), false)).toThrow();
    expect(() => decodeFrame(new Uint8Array([0, 2, 200]), false)).toThrow();
    expect(() => decodeFrame(new Uint8Array([0x80]), false)).toThrow();
    expect(() => decodeFrame(frame(0, 9, update), false)).toThrow(/sync message type 9/);
  });
  it('read-only: takes the empty step 2 a provider sends, refuses real edits, throws on garbage', () => {
    expect(decodeFrame(frame(0, 1, empty), true).kind).toBe('ignored');
    expect(decodeFrame(frame(0, 2, update), true).kind).toBe('refused-edit');
    expect(() => decodeFrame(frame(0, 2, new Uint8Array([5, 200, 1, 7, 7, 7])), true)).toThrow();
  });
});

describe('BroadcastFrames', () => {
  it('frames one broadcast update once: every peer gets the same bytes, decodable as a sync update', async () => {
    const frames = new BroadcastFrames();
    const update = Y.encodeStateAsUpdate(new Y.Doc());
    const a = frames.get(update, YMessage.Sync);
    expect(frames.get(update, YMessage.Sync)).toBe(a);
    expect(decodeFrame(a, false)).toEqual({ kind: 'update', payload: update });
    const aw = frames.get(update, YMessage.Awareness);
    expect(aw).not.toBe(a);
    expect(decodeFrame(aw, false)).toEqual({ kind: 'awareness', payload: update });
    // An equal update that is another object is framed anew (no content comparison).
    expect(frames.get(update.slice(), YMessage.Sync)).not.toBe(a);
  });
  it('lets the frame go after the broadcast (next microtask): nothing is kept between updates', async () => {
    const frames = new BroadcastFrames();
    const update = Y.encodeStateAsUpdate(new Y.Doc());
    const a = frames.get(update, YMessage.Sync);
    await Promise.resolve();
    const b = frames.get(update, YMessage.Sync);
    expect(b).not.toBe(a);
    expect(b).toEqual(a);
  });
});
