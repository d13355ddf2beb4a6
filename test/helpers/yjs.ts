import { connect as netConnect } from 'node:net';
import WebSocket from 'ws';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';
import * as syncProtocol from 'y-protocols/sync';
import * as awarenessProtocol from 'y-protocols/awareness';
import { WebsocketProvider } from 'y-websocket';
import { until } from './until.js';

/** y-websocket message types (the framing every y-websocket server and provider uses). */
export const MSG_SYNC = 0;
export const MSG_AWARENESS = 1;
export const MSG_AUTH = 2;
export const MSG_QUERY_AWARENESS = 3;

export interface YjsServer {
  url: string; // http://HOST:PORT
  token: string;
}

export function yjsBase(s: YjsServer): string {
  return s.url.replace(/^http/, 'ws') + '/api/yjs';
}

export interface Client {
  readonly doc: Y.Doc;
  readonly text: Y.Text;
  readonly provider: WebsocketProvider;
  readonly awareness: awarenessProtocol.Awareness;
  /** Close codes the server sent (y-websocket's 'connection-close' events). */
  readonly closes: { code: number; reason: string }[];
  synced(timeoutMs?: number): Promise<void>;
  destroy(): void;
}

/**
 * An unmodified y-websocket `WebsocketProvider` on `WS /api/yjs/{path}`, as a browser would make
 * one (with `ws` as its WebSocket). `disableBc`: in Node 20 `BroadcastChannel` is global, and
 * providers of one room in one process would otherwise sync through it, around the server —
 * which would make every proof here meaningless (an "offline" provider would stay in sync).
 */
export function provider(s: YjsServer, path: string, opts: { token?: string; connect?: boolean; doc?: Y.Doc } = {}): Client {
  const doc = opts.doc ?? new Y.Doc();
  const p = new WebsocketProvider(yjsBase(s), path, doc, {
    params: { token: opts.token ?? s.token },
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    connect: opts.connect ?? true,
    disableBc: true,
    maxBackoffTime: 500,
  });
  const closes: { code: number; reason: string }[] = [];
  p.on('connection-close', (ev) => {
    if (ev) closes.push({ code: ev.code, reason: ev.reason });
  });
  return {
    doc,
    text: doc.getText('content'),
    provider: p,
    awareness: p.awareness,
    closes,
    synced: (timeoutMs = 10_000) => until(() => p.synced, `provider ${path} synced`, timeoutMs).then(() => undefined),
    destroy() {
      p.destroy();
      doc.destroy();
    },
  };
}

/** Open one provider per path and wait until each has synced. */
export async function synced(s: YjsServer, path: string, n = 1): Promise<Client[]> {
  const cs = Array.from({ length: n }, () => provider(s, path));
  await Promise.all(cs.map((c) => c.synced()));
  return cs;
}

export interface RawYjs {
  readonly ws: WebSocket;
  /** Every binary message received, in order. */
  readonly messages: Uint8Array[];
  readonly closed: Promise<{ code: number; reason: string }>;
  send(bytes: Uint8Array): void;
  close(): Promise<void>;
}

/**
 * A hand-rolled y-websocket peer (raw frames), to send what a provider never would. Resolves once
 * the socket is open; rejects with `{status}` when the upgrade is refused over HTTP.
 */
export function rawYjs(s: YjsServer, pathInUrl: string, opts: { token?: string | null; headers?: Record<string, string>; maxPayload?: number } = {}): Promise<RawYjs> {
  const token = opts.token === undefined ? s.token : opts.token;
  const url = `${yjsBase(s)}/${pathInUrl}${token === null ? '' : `?token=${encodeURIComponent(token)}`}`;
  const ws = new WebSocket(url, { headers: opts.headers, maxPayload: opts.maxPayload ?? 256 * 1024 * 1024 });
  const messages: Uint8Array[] = [];
  ws.on('message', (data: Buffer) => messages.push(new Uint8Array(data)));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const raw: RawYjs = {
    ws,
    messages,
    closed,
    send: (bytes) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(bytes);
    },
    async close() {
      if (ws.readyState !== WebSocket.CLOSED) {
        ws.close();
        await closed;
      }
    },
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(raw));
    ws.once('unexpected-response', (_req, res) => {
      reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }));
      res.resume();
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

/** Close code and reason the server ends a /api/yjs socket with (opened, then closed by the server). */
export async function closeOf(s: YjsServer, pathInUrl: string, opts: { token?: string | null; timeoutMs?: number } = {}): Promise<{ code: number; reason: string }> {
  const raw = await rawYjs(s, pathInUrl, opts);
  const t = setTimeout(() => raw.ws.terminate(), opts.timeoutMs ?? 5000);
  try {
    return await raw.closed;
  } finally {
    clearTimeout(t);
  }
}

/**
 * An upgrade request sent byte for byte (no URL normalisation, unlike every WebSocket client), so a
 * literal `..` reaches the server. Returns the HTTP status and, after a 101, the server's close frame.
 */
export function rawUpgrade(s: YjsServer, path: string, headers: Record<string, string> = {}): Promise<{ status: number; code?: number; reason?: string }> {
  const u = new URL(s.url);
  return new Promise((resolve, reject) => {
    const sock = netConnect(Number(u.port), u.hostname);
    let buf = Buffer.alloc(0);
    let status = 0;
    const done = (r: { status: number; code?: number; reason?: string }) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ status }), 5000);
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('connect', () => {
      const h = {
        Host: `${u.hostname}:${u.port}`,
        Upgrade: 'websocket',
        Connection: 'Upgrade',
        'Sec-WebSocket-Key': Buffer.from('0123456789abcdef').toString('base64'),
        'Sec-WebSocket-Version': '13',
        ...headers,
      };
      sock.write(`GET ${path} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`);
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!status) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        status = Number(buf.subarray(0, end).toString('latin1').split(' ')[1]);
        buf = buf.subarray(end + 4);
        if (status !== 101) return done({ status });
      }
      // Server frames are unmasked: walk them until a close frame (opcode 8).
      for (;;) {
        if (buf.length < 2) return;
        const op = buf[0]! & 0x0f;
        let len = buf[1]! & 0x7f;
        let off = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          off = 10;
        }
        if (buf.length < off + len) return;
        const payload = buf.subarray(off, off + len);
        buf = buf.subarray(off + len);
        if (op === 8) return done({ status, code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005, reason: payload.subarray(2).toString('utf8') });
      }
    });
    sock.on('close', () => done({ status }));
  });
}

// ---- y-websocket frames ----

export function syncStep1(doc: Y.Doc): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, MSG_SYNC);
  syncProtocol.writeSyncStep1(e, doc);
  return encoding.toUint8Array(e);
}

export function updateFrame(update: Uint8Array): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, MSG_SYNC);
  syncProtocol.writeUpdate(e, update);
  return encoding.toUint8Array(e);
}

export function awarenessFrame(update: Uint8Array): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, MSG_AWARENESS);
  encoding.writeVarUint8Array(e, update);
  return encoding.toUint8Array(e);
}

/** Apply the sync messages a raw peer received to a doc (to see what the server sent it). */
export function applyReceived(doc: Y.Doc, messages: Uint8Array[]): void {
  for (const m of messages) {
    const d = decoding.createDecoder(m);
    if (decoding.readVarUint(d) !== MSG_SYNC) continue;
    syncProtocol.readSyncMessage(d, encoding.createEncoder(), doc, 'server');
  }
}

/** Awareness states a raw peer received (client id → state), decoded from its messages. */
export function receivedAwareness(messages: Uint8Array[]): Map<number, unknown> {
  const doc = new Y.Doc();
  const a = new awarenessProtocol.Awareness(doc);
  a.setLocalState(null);
  for (const m of messages) {
    const d = decoding.createDecoder(m);
    if (decoding.readVarUint(d) !== MSG_AWARENESS) continue;
    awarenessProtocol.applyAwarenessUpdate(a, decoding.readVarUint8Array(d), 'server');
  }
  const out = new Map(a.getStates());
  a.destroy();
  doc.destroy();
  return out;
}

/** A seeded PRNG (mulberry32), so a failing random run can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Percentile (0..100) of a list of numbers. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}
