/**
 * How terminal output travels to an attached client.
 *
 * - `json` (default): a JSON-RPC notification
 *   `{"jsonrpc":"2.0","method":"terminal.output","params":{"id":ID,"offset":N,"data":TEXT}}`.
 * - `binary`: one binary WebSocket frame:
 *     byte 0       0x01 (terminal output)
 *     byte 1       n = byte length of the terminal id
 *     bytes 2..9   offset, unsigned 64-bit big-endian
 *     bytes 10..   the id (n bytes, ASCII), then the output as raw UTF-8 bytes
 *
 * Either way `offset` is the byte offset (UTF-8) of the first byte of the data, and the next
 * frame's offset is `offset + byteLength(data)`; a larger one means bytes were dropped.
 */
export type OutputEncoding = 'json' | 'binary';

export const BINARY_OUTPUT_FRAME = 0x01;
const HEADER = 10;

export function encodeOutputFrame(encoding: OutputEncoding, id: string, offset: number, data: string): string | Uint8Array {
  if (encoding === 'json') {
    return `{"jsonrpc":"2.0","method":"terminal.output","params":{"id":${JSON.stringify(id)},"offset":${offset},"data":${JSON.stringify(data)}}}`;
  }
  const idLen = Buffer.byteLength(id, 'latin1');
  const dataLen = Buffer.byteLength(data, 'utf8');
  const buf = Buffer.allocUnsafe(HEADER + idLen + dataLen);
  buf[0] = BINARY_OUTPUT_FRAME;
  buf[1] = idLen;
  buf.writeBigUInt64BE(BigInt(offset), 2);
  buf.write(id, HEADER, 'latin1');
  buf.write(data, HEADER + idLen, 'utf8');
  return buf;
}

export interface DecodedOutputFrame {
  id: string;
  offset: number;
  data: Uint8Array;
}

/** The inverse of the binary layout (for clients written in TypeScript, and tests). */
export function decodeBinaryOutputFrame(frame: Uint8Array): DecodedOutputFrame {
  const buf = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  if (buf[0] !== BINARY_OUTPUT_FRAME) throw new Error(`Not a terminal output frame (type ${buf[0]})`);
  const idLen = buf[1]!;
  return {
    offset: Number(buf.readBigUInt64BE(2)),
    id: buf.toString('latin1', HEADER, HEADER + idLen),
    data: buf.subarray(HEADER + idLen),
  };
}
