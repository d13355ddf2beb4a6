import type { OutputRead, OutputStream } from './output-log.js';

/**
 * How a run's output travels to a connection attached with `exec.attach`.
 *
 * - `json` (default): the JSON-RPC notification
 *   `{"jsonrpc":"2.0","method":"exec.output","params":{"id":ID,"stream":"stdout","offset":N,"data":TEXT}}`.
 * - `binary`: one binary WebSocket frame per chunk:
 *     byte 0        0x02 (exec output; terminals use 0x01)
 *     byte 1        stream: 0 = stdout, 1 = stderr
 *     bytes 2..9    offset, unsigned 64-bit big-endian
 *     byte 10       n = byte length of the run id
 *     bytes 11..    the id (n bytes, ASCII), then the output as raw UTF-8 bytes
 *
 * Either way `offset` is the byte offset of the first byte of the data in the run's combined
 * output, and the next frame's offset is `offset + byteLength(data)`.
 */
export type ExecOutputEncoding = 'json' | 'binary';

export const BINARY_EXEC_OUTPUT_FRAME = 0x02;
const HEADER = 11;
/** Frames this small are copied into one buffer (cheaper than fragments for both ends). */
export const COPY_FRAME_BYTES = 64 * 1024;

function writeHeader(buf: Buffer, id: string, idLen: number, r: OutputRead): void {
  buf[0] = BINARY_EXEC_OUTPUT_FRAME;
  buf[1] = r.stream === 'stdout' ? 0 : 1;
  buf.writeBigUInt64BE(BigInt(r.offset), 2);
  buf[10] = idLen;
  buf.write(id, HEADER, 'latin1');
}

/**
 * The binary frame for one read, the cheapest way it can go:
 * - one part with room in front of it (`headroom`, the log's read buffers): the header is written
 *   there and the frame is one buffer over the header and the bytes — nothing copied, one
 *   WebSocket message of one fragment. Every frame of a read buffer at the same offset has the
 *   same header, so connections sending it at once write the same bytes;
 * - up to COPY_FRAME_BYTES: copied into one buffer;
 * - else the header and the parts as fragments of one message (not copied; the receiver joins them).
 */
export function encodeBinaryExecOutputFrame(id: string, r: OutputRead, headroom: (part: Buffer) => number): Uint8Array | Uint8Array[] {
  const idLen = Buffer.byteLength(id, 'latin1');
  const headLen = HEADER + idLen;
  if (r.parts.length === 1 && headroom(r.parts[0]!) >= headLen) {
    const p = r.parts[0]!;
    const frame = Buffer.from(p.buffer, p.byteOffset - headLen, headLen + p.length);
    writeHeader(frame, id, idLen, r);
    return frame;
  }
  if (r.end - r.offset <= COPY_FRAME_BYTES) return encodeBinaryExecOutput(id, r);
  return encodeBinaryExecOutputParts(id, r);
}

/**
 * The binary frame for one read as parts to send as fragments of one message (Session.sendFrame
 * with an array): the header, then the log's own Buffers, not copied.
 */
export function encodeBinaryExecOutputParts(id: string, r: OutputRead): Uint8Array[] {
  const idLen = Buffer.byteLength(id, 'latin1');
  const head = Buffer.allocUnsafe(HEADER + idLen);
  writeHeader(head, id, idLen, r);
  return [head, ...r.parts];
}

/** The binary frame for one read in one buffer: header + bytes, one copy. */
export function encodeBinaryExecOutput(id: string, r: OutputRead): Uint8Array {
  const idLen = Buffer.byteLength(id, 'latin1');
  const buf = Buffer.allocUnsafe(HEADER + idLen + (r.end - r.offset));
  writeHeader(buf, id, idLen, r);
  let at = HEADER + idLen;
  for (const p of r.parts) at += p.copy(buf, at);
  return buf;
}

/** The JSON notification (the same text `session.notify('exec.output', …)` would send). */
export function encodeJsonExecOutput(id: string, stream: OutputStream, offset: number, text: string): string {
  return `{"jsonrpc":"2.0","method":"exec.output","params":{"id":${JSON.stringify(id)},"stream":"${stream}","offset":${offset},"data":${JSON.stringify(text)}}}`;
}

export interface DecodedExecOutputFrame {
  id: string;
  stream: OutputStream;
  offset: number;
  data: Uint8Array;
}

/** The inverse of the binary layout (for clients written in TypeScript, and tests). */
export function decodeBinaryExecOutput(frame: Uint8Array): DecodedExecOutputFrame {
  const buf = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  if (buf[0] !== BINARY_EXEC_OUTPUT_FRAME) throw new Error(`Not an exec output frame (type ${buf[0]})`);
  const idLen = buf[10]!;
  return {
    stream: buf[1] === 0 ? 'stdout' : 'stderr',
    offset: Number(buf.readBigUInt64BE(2)),
    id: buf.toString('latin1', HEADER, HEADER + idLen),
    data: buf.subarray(HEADER + idLen),
  };
}
