import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBroker } from '../../core/broker/index.js';
import { DisposableStore } from '../../core/lifecycle.js';
import { silentLogger } from '../../core/logger.js';
import type { Session } from '../../core/rpc/index.js';
import { TerminalService } from './terminal-service.js';

/**
 * A connection whose outgoing buffer the test controls: `buffered` stands for bytes the socket
 * has not sent yet. (The real WsSession is exercised over sockets in test/terminals.test.ts.)
 */
class TestSession implements Session {
  readonly resources = new DisposableStore();
  readonly handles = new Map<string, { dispose(): void }>();
  readonly frames: { offset: number; data: string }[] = [];
  readonly notes: { method: string; params: any }[] = [];
  buffered = 0;
  /** Count each frame's bytes as unsent until `drain()`. */
  holdFrames = false;
  private writable: (() => void)[] = [];

  notify(method: string, params: unknown): void {
    this.notes.push({ method, params });
  }
  sendFrame(frame: string | Uint8Array): boolean {
    const m = JSON.parse(frame as string);
    this.frames.push(m.params);
    if (this.holdFrames) this.buffered += Buffer.byteLength(m.params.data);
    return true;
  }
  get bufferedAmount(): number {
    return this.buffered;
  }
  onWritable(cb: () => void): void {
    this.writable.push(cb);
  }
  drain(): void {
    this.buffered = 0;
    const w = this.writable;
    this.writable = [];
    for (const cb of w) cb();
  }
  text(): string {
    return this.frames.map((f) => f.data).join('');
  }
  end(): number {
    const last = this.frames.at(-1);
    return last ? last.offset + Buffer.byteLength(last.data) : 0;
  }
}

const source = (id: string) => ({ connectionId: id, kind: 'cli' as const, name: id });
const until = async (pred: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('TerminalService', () => {
  let root: string;
  let broker: MemoryBroker;
  let service: TerminalService;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'icpy-term-unit-'));
    broker = new MemoryBroker();
    service = new TerminalService({
      root,
      broker,
      logger: silentLogger,
      scrollbackBytes: 1 << 20,
      idleTimeoutMs: 0,
      highWaterBytes: 64 * 1024,
      stallTimeoutMs: 300,
    });
  });
  afterEach(async () => {
    await service.dispose();
    broker.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  it('pauses the PTY while a client is behind and resumes when it drains', async () => {
    const t = service.create({ shell: '/usr/bin/yes', args: ['flow'], cols: 80, rows: 24 });
    const s = new TestSession();
    s.holdFrames = true;
    service.attach(t.id, s, source('c1'), { encoding: 'json', ack: false }).start();
    await until(() => t.paused);
    const sent = s.end();
    expect(sent).toBeGreaterThanOrEqual(64 * 1024);
    // Paused: the scrollback stops growing (beyond what was already read).
    const endWhilePaused = t.scrollback.end;
    await new Promise((r) => setTimeout(r, 100));
    expect(t.scrollback.end - endWhilePaused).toBeLessThan(64 * 1024);
    s.drain();
    await until(() => s.end() > sent);
    // Offsets are contiguous across the pause.
    let at = 0;
    for (const f of s.frames) {
      expect(f.offset).toBe(at);
      at += Buffer.byteLength(f.data);
    }
  });

  it('detaches a client that stays behind past the stall timeout, then runs freely', async () => {
    const t = service.create({ shell: '/usr/bin/yes', args: ['stall'], cols: 80, rows: 24 });
    const s = new TestSession();
    s.holdFrames = true;
    service.attach(t.id, s, source('c1'), { encoding: 'json', ack: false }).start();
    await until(() => s.notes.some((n) => n.method === 'terminal.detached'));
    const note = s.notes.find((n) => n.method === 'terminal.detached')!;
    expect(note.params).toMatchObject({ id: t.id, reason: 'stalled', offset: s.end() });
    expect(t.attachedCount).toBe(0);
    await until(() => !t.paused);
    const end = t.scrollback.end;
    await until(() => t.scrollback.end > end + 1024 * 1024);
    expect(t.scrollback.size).toBeLessThanOrEqual(1 << 20);
  });

  it('with ack=true, pauses on unacknowledged bytes and resumes on terminal.ack', async () => {
    const t = service.create({ shell: '/usr/bin/yes', args: ['ack'], cols: 80, rows: 24 });
    const s = new TestSession();
    service.attach(t.id, s, source('c1'), { encoding: 'json', ack: true }).start();
    await until(() => t.paused);
    const sent = s.end();
    expect(sent).toBeGreaterThanOrEqual(64 * 1024);
    service.ack(t.id, 'c1', sent);
    await until(() => s.end() > sent);
  });

  it('publishes lifecycle events with their source, and forgets a closed terminal', async () => {
    const seen: string[] = [];
    broker.subscribe(['terminal.*'], (ev) => void seen.push(`${ev.topic}:${ev.source.name}`));
    const t = service.create({ shell: '/bin/sh', args: ['-c', 'exit 4'], cols: 80, rows: 24 }, source('alice'));
    await t.exited;
    expect(t.exitCode).toBe(4);
    service.rename(t.id, 'renamed', source('bob'));
    await service.close(t.id, 'closed', source('carol'));
    expect(seen).toEqual(['terminal.created:alice', 'terminal.exited:icpy', 'terminal.renamed:bob', 'terminal.closed:carol']);
    expect(() => service.get(t.id)).toThrow(/No terminal/);
  });
});
