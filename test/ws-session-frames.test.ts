import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { encodeBinaryExecOutputFrame, encodeBinaryExecOutputParts, decodeBinaryExecOutput } from '../src/services/exec/output-frame.js';
import { HEADROOM, OutputLog } from '../src/services/exec/output-log.js';
import { WsSession } from '../src/transports/websocket/ws-gateway.js';

const open: { close(): void }[] = [];
afterEach(async () => {
  for (const x of open.splice(0).reverse()) x.close();
});

/** A real server-side ws and a real client over loopback. */
async function pair(): Promise<{ session: WsSession; client: WebSocket; socket: Socket }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  open.push(wss);
  await once(wss, 'listening');
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { perMessageDeflate: false });
  open.push({ close: () => client.terminate() });
  const [server, req] = (await once(wss, 'connection')) as [WebSocket, IncomingMessage];
  open.push({ close: () => server.terminate() });
  await once(client, 'open');
  const info = { id: 'c1', kind: 'agent' as const, name: 't', transport: 'ws' as const, principalId: 'owner', connectedAt: Date.now() };
  const socket = req.socket as Socket;
  return { session: new WsSession(server, info, 1024 * 1024, socket), client, socket };
}

describe('WsSession.sendFrame with parts', () => {
  it('an array of parts arrives as one binary message, in order, between the messages around it', async () => {
    const { session, client } = await pair();
    const got: { data: Buffer; binary: boolean }[] = [];
    client.on('message', (data: Buffer, binary: boolean) => got.push({ data, binary }));
    const big = Buffer.alloc(300 * 1024, 0x61);
    session.sendFrame('{"before":1}');
    session.sendFrame([Buffer.from([1, 2, 3]), big, Buffer.from('end')]);
    session.sendFrame('{"after":1}');
    while (got.length < 3) await once(client, 'message');
    expect(got.map((m) => m.binary)).toEqual([false, true, false]);
    expect(got[1]!.data.equals(Buffer.concat([Buffer.from([1, 2, 3]), big, Buffer.from('end')]))).toBe(true);
    expect(got[2]!.data.toString()).toBe('{"after":1}');
  });

  it('an exec output frame sent as parts (header, then the log Buffers uncopied) decodes whole', async () => {
    const { session, client } = await pair();
    const parts = [Buffer.from('héllo '), Buffer.from('wörld\n')];
    const frame = encodeBinaryExecOutputParts('run-7', { stream: 'stderr', offset: 42, parts, end: 42 + parts[0]!.length + parts[1]!.length });
    // The payload parts are the log's own Buffers, not copies.
    expect(frame.slice(1)).toEqual(parts);
    expect(frame[1]).toBe(parts[0]);
    const msg = once(client, 'message');
    session.sendFrame(frame);
    const [data] = (await msg) as [Buffer];
    const f = decodeBinaryExecOutput(data);
    expect(f).toMatchObject({ id: 'run-7', stream: 'stderr', offset: 42 });
    expect(Buffer.from(f.data).toString('utf8')).toBe('héllo wörld\n');
  });

  it('the parts of one message leave in one socket write (corked), not one write per fragment', async () => {
    const { session, client, socket } = await pair();
    // Observe (not replace) the real socket's writes: every write the stream hands to the OS.
    const s = socket as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
    let writes = 0;
    const w = s._write.bind(socket);
    const wv = s._writev.bind(socket);
    s._write = (...a) => (writes++, w(...a));
    s._writev = (...a) => (writes++, wv(...a));
    const parts = [Buffer.from([2, 0]), Buffer.alloc(64 * 1024, 0x61), Buffer.alloc(64 * 1024, 0x62), Buffer.alloc(64 * 1024, 0x63)];
    const msg = once(client, 'message');
    session.sendFrame(parts);
    const [data] = (await msg) as [Buffer];
    expect(data.equals(Buffer.concat(parts))).toBe(true);
    expect(writes).toBe(1);
  });

  it('onSent comes once the socket has written the frame (parts and single buffers), and after a close without it', async () => {
    const { session, client } = await pair();
    const order: string[] = [];
    const got = new Promise<void>((resolve) => client.on('message', () => (order.push('received'), order.length >= 4 && resolve())));
    session.sendFrame([Buffer.from([1]), Buffer.alloc(200 * 1024, 0x61)], () => order.push('sent parts'));
    session.sendFrame(Buffer.alloc(10, 0x62), () => order.push('sent one'));
    // Not at once: the caller may hand the same buffers to other connections in this turn.
    expect(order).toEqual([]);
    await got;
    expect(order.filter((o) => o.startsWith('sent'))).toEqual(['sent parts', 'sent one']);
    client.close();
    await once(client, 'close');
    await new Promise((r) => setTimeout(r, 20));
    let late = 0;
    session.sendFrame(Buffer.alloc(10), () => late++);
    expect(late).toBe(0);
    await new Promise((r) => process.nextTick(r));
    expect(late).toBe(1);
  });

  it('an exec output frame over one read buffer is sent in place: one buffer over the header room and the log\'s bytes, no copy', async () => {
    const { session, client } = await pair();
    const log = new OutputLog(1 << 30);
    const read = log.readBuffer(300 * 1024);
    read.fill(0x7a);
    expect(log.headroom(read)).toBe(HEADROOM);
    // A view that does not start the read buffer has no room in front of it.
    expect(log.headroom(read.subarray(1))).toBe(0);
    const r = { stream: 'stdout' as const, offset: 1000, parts: [read], end: 1000 + read.length };
    const frame = encodeBinaryExecOutputFrame('x1-abc', r, (p) => log.headroom(p));
    expect(Array.isArray(frame)).toBe(false);
    const f0 = frame as Uint8Array;
    expect(f0.buffer).toBe(read.buffer);
    expect(f0.byteOffset + f0.byteLength).toBe(read.byteOffset + read.byteLength);
    const msg = once(client, 'message');
    session.sendFrame(frame);
    const [data] = (await msg) as [Buffer];
    const d = decodeBinaryExecOutput(data);
    expect(d).toMatchObject({ id: 'x1-abc', stream: 'stdout', offset: 1000 });
    expect(Buffer.from(d.data).equals(read)).toBe(true);
    // Without room (the bytes start inside a read): a small frame is copied into one, a large one goes as parts.
    const inside = { ...r, parts: [read.subarray(10)], end: 1000 + read.length - 10 };
    expect(Array.isArray(encodeBinaryExecOutputFrame('x1-abc', inside, (p) => log.headroom(p)))).toBe(true);
    const small = { ...r, parts: [read.subarray(10, 1010)], end: 2000 };
    const one = encodeBinaryExecOutputFrame('x1-abc', small, (p) => log.headroom(p)) as Uint8Array;
    expect(Array.isArray(one)).toBe(false);
    expect(one.buffer).not.toBe(read.buffer);
    expect(decodeBinaryExecOutput(one).data.length).toBe(1000);
  });
});
