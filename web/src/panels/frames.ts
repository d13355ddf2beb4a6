/**
 * Binary WebSocket frames of terminal and exec output (docs/protocol/terminals.md, exec.md),
 * decoded with DataView so the browser needs no Buffer. Layouts:
 *   terminal: 0x01, n, offset u64 BE (2..9), id (n bytes ASCII), output
 *   exec:     0x02, stream (0 stdout / 1 stderr), offset u64 BE (2..9), n, id, output
 * Anything else (or a frame too short for its header) decodes to undefined: the socket is shared
 * with other binary users, so an unknown frame is not an error here.
 */
export interface TerminalFrame {
  type: 'terminal';
  id: string;
  offset: number;
  data: Uint8Array;
}

export interface ExecFrame {
  type: 'exec';
  id: string;
  stream: 'stdout' | 'stderr';
  offset: number;
  data: Uint8Array;
}

export const TERMINAL_FRAME = 0x01;
export const EXEC_FRAME = 0x02;

function ascii(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

function u64(view: DataView, at: number): number {
  // Offsets stay far below 2^53 (they count bytes a process printed).
  return view.getUint32(at) * 2 ** 32 + view.getUint32(at + 4);
}

export function decodeFrame(buf: ArrayBuffer | Uint8Array): TerminalFrame | ExecFrame | undefined {
  const bytes = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 10) return undefined;
  if (bytes[0] === TERMINAL_FRAME) {
    const n = bytes[1]!;
    if (bytes.length < 10 + n) return undefined;
    return { type: 'terminal', offset: u64(view, 2), id: ascii(bytes.subarray(10, 10 + n)), data: bytes.subarray(10 + n) };
  }
  if (bytes[0] === EXEC_FRAME) {
    if (bytes.length < 11) return undefined;
    const n = bytes[10]!;
    if (bytes.length < 11 + n) return undefined;
    return {
      type: 'exec',
      stream: bytes[1] === 1 ? 'stderr' : 'stdout',
      offset: u64(view, 2),
      id: ascii(bytes.subarray(11, 11 + n)),
      data: bytes.subarray(11 + n),
    };
  }
  return undefined;
}

const encoder = new TextEncoder();

/** UTF-8 byte length of a string (offsets in JSON notifications count UTF-8 bytes). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

export function utf8Bytes(s: string): Uint8Array {
  return encoder.encode(s);
}
