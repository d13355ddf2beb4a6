import { afterEach, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate, outdatedTimeout } from 'y-protocols/awareness';
import { MemoryBroker, type BrokerEvent } from '../../core/broker/index.js';
import { toDisposable, type Disposable } from '../../core/lifecycle.js';
import type { ConnectionInfo } from '../../core/rpc/index.js';
import { encodeAwareness } from './awareness-wire.js';
import {
  PRESENCE_ORIGIN,
  PRESENCE_PALETTE,
  PRESENCE_TIMEOUT_MS,
  PresenceService,
  colorFor,
  type PresenceChangedEvent,
  type PresenceRoom,
  type PresenceRooms,
} from './presence.js';

/** A room as LiveDoc holds one: a real Y.Doc, its Awareness (local state null), peers' client ids. */
class Room implements PresenceRoom {
  readonly doc = new Y.Doc();
  readonly text = this.doc.getText('content');
  readonly awareness = new Awareness(this.doc);
  readonly peers = new Map<number, ConnectionInfo>();
  constructor(readonly path: string, content = '') {
    this.awareness.setLocalState(null);
    if (content) this.text.insert(0, content);
  }
  connectionOf(clientId: number) {
    return this.peers.get(clientId);
  }
  destroy() {
    this.awareness.destroy();
    this.doc.destroy();
  }
}

class Rooms implements PresenceRooms {
  readonly open = new Map<string, Room>();
  private readonly opened = new Set<(r: PresenceRoom) => void>();
  private readonly closed = new Set<(r: PresenceRoom) => void>();
  onOpened(cb: (r: PresenceRoom) => void): Disposable {
    this.opened.add(cb);
    return toDisposable(() => void this.opened.delete(cb));
  }
  onClosed(cb: (r: PresenceRoom) => void): Disposable {
    this.closed.add(cb);
    return toDisposable(() => void this.closed.delete(cb));
  }
  loaded(path: string) {
    return this.open.get(path);
  }
  add(room: Room): Room {
    this.open.set(room.path, room);
    for (const cb of this.opened) cb(room);
    return room;
  }
  remove(room: Room): void {
    for (const cb of this.closed) cb(room);
    this.open.delete(room.path);
    room.destroy();
  }
}

/** A browser with its own Y.Doc and Awareness, connected to a room by relaying updates both ways (what the transport does). */
class Peer {
  readonly doc = new Y.Doc();
  readonly text = this.doc.getText('content');
  readonly awareness = new Awareness(this.doc);
  private readonly offs: (() => void)[] = [];
  constructor(readonly room: Room, readonly connection: ConnectionInfo) {
    Y.applyUpdate(this.doc, Y.encodeStateAsUpdate(room.doc));
    const toRoom = (u: Uint8Array, origin: unknown) => origin !== room && Y.applyUpdate(room.doc, u, this);
    const toPeer = (u: Uint8Array, origin: unknown) => origin !== this && Y.applyUpdate(this.doc, u, room);
    this.doc.on('update', toRoom);
    room.doc.on('update', toPeer);
    const awToRoom = ({ added, updated, removed }: Changes, origin: unknown) => {
      if (origin === room) return;
      const ids = [...added, ...updated, ...removed];
      for (const id of ids) room.peers.set(id, connection);
      applyAwarenessUpdate(room.awareness, encodeAwarenessUpdate(this.awareness, ids), this);
    };
    const awToPeer = ({ added, updated, removed }: Changes, origin: unknown) => {
      if (origin === this) return;
      applyAwarenessUpdate(this.awareness, encodeAwarenessUpdate(room.awareness, [...added, ...updated, ...removed]), room);
    };
    this.awareness.on('update', awToRoom);
    room.awareness.on('update', awToPeer);
    const states = [...room.awareness.getStates().keys()];
    if (states.length) applyAwarenessUpdate(this.awareness, encodeAwarenessUpdate(room.awareness, states), room);
    this.offs.push(() => {
      this.doc.off('update', toRoom);
      room.doc.off('update', toPeer);
      this.awareness.off('update', awToRoom);
      room.awareness.off('update', awToPeer);
    });
  }
  /** y-codemirror.next's convention. */
  setCursor(anchor: number, head = anchor, user: Record<string, unknown> = { name: 'Ada', color: '#123456' }) {
    this.awareness.setLocalState({
      user,
      cursor: { anchor: Y.createRelativePositionFromTypeIndex(this.text, anchor), head: Y.createRelativePositionFromTypeIndex(this.text, head) },
    });
  }
  /** The states of the other clients (a new Awareness holds its own `{}`). */
  others(): Map<number, Record<string, any>> {
    const out = new Map(this.awareness.getStates());
    out.delete(this.doc.clientID);
    return out;
  }
  destroy() {
    for (const off of this.offs) off();
    this.awareness.destroy();
    this.doc.destroy();
  }
}
type Changes = { added: number[]; updated: number[]; removed: number[] };

let n = 0;
function conn(kind: ConnectionInfo['kind'], transport: ConnectionInfo['transport'] = 'ws', name = `${kind}-${++n}`): ConnectionInfo {
  return { id: `c-${++n}`, kind, name, transport, principalId: 'owner', connectedAt: Date.now() };
}

const cleanup: (() => void)[] = [];
afterEach(() => {
  while (cleanup.length) cleanup.pop()!();
});

function setup(options: ConstructorParameters<typeof PresenceService>[2] = {}) {
  const broker = new MemoryBroker();
  const rooms = new Rooms();
  const presence = new PresenceService(rooms, broker, { coalesceMs: 5, ...options });
  const events: PresenceChangedEvent[] = [];
  const sub = broker.subscribe(['presence.changed'], (ev: BrokerEvent) => void events.push(ev.data as PresenceChangedEvent));
  const made: { destroy(): void }[] = [];
  cleanup.push(() => {
    sub.dispose();
    presence.dispose();
    for (const m of made.reverse()) m.destroy();
    for (const r of rooms.open.values()) r.destroy();
    broker.dispose();
  });
  return {
    broker,
    rooms,
    presence,
    events,
    room: (path: string, content = '') => rooms.add(new Room(path, content)),
    peer: (room: Room, c = conn('browser')) => {
      const p = new Peer(room, c);
      made.push(p);
      return p;
    },
  };
}

describe('PresenceService: Yjs clients', () => {
  it('reads name, colour, kind and cursor from awareness (y-codemirror convention), as LSP positions', () => {
    const { room, peer, presence } = setup();
    const r = room('src/a.py', 'first\nsecond line\nthird');
    const browser = conn('browser', 'ws', 'ada-laptop');
    const p = peer(r, browser);
    p.setCursor(6 + 3, 6 + 7); // line 1, 3..7
    const [entry, ...rest] = presence.list();
    expect(rest).toEqual([]);
    expect(entry).toMatchObject({
      connectionId: browser.id,
      name: 'Ada',
      color: '#123456',
      kind: 'browser',
      via: 'yjs',
      activeFile: 'src/a.py',
      cursor: { line: 1, character: 7 },
      selection: { anchor: { line: 1, character: 3 }, head: { line: 1, character: 7 } },
    });
    expect(presence.list('src/a.py')).toHaveLength(1);
    expect(presence.list('other.py')).toEqual([]);
  });

  it("reads y-monaco's `selection` field too; a collapsed selection is a cursor only", () => {
    const { room, peer, presence } = setup();
    const r = room('m.ts', 'ab\ncd');
    const p = peer(r);
    const at = Y.createRelativePositionFromTypeIndex(p.text, 4);
    p.awareness.setLocalState({ user: { name: 'Mona' }, selection: { anchor: at, head: at } });
    const [entry] = presence.list();
    expect(entry!.cursor).toEqual({ line: 1, character: 1 });
    expect(entry!.selection).toBeUndefined();
  });

  it('cursors follow edits made after they were set (relative positions)', () => {
    const { room, peer, presence } = setup();
    const r = room('f.txt', 'hello');
    const p = peer(r);
    p.setCursor(5);
    r.text.insert(0, 'one\ntwo\n');
    expect(presence.list()[0]!.cursor).toEqual({ line: 2, character: 5 });
  });

  it('bounds what a peer claims: name to 64 characters, colour must be CSS hex, else a palette colour from the connection', () => {
    const { room, peer, presence } = setup();
    const r = room('f.txt');
    const c = conn('browser');
    peer(r, c).setCursor(0, 0, { name: 'x'.repeat(500), color: 'red; background: url(evil)' });
    const [entry] = presence.list();
    expect(entry!.name).toHaveLength(64);
    expect(entry!.color).toBe(colorFor(c.id));
    expect(PRESENCE_PALETTE).toContain(entry!.color);
  });

  it('a peer that leaves (state removed) is removed, and a closed document drops its clients', async () => {
    const { room, peer, presence, rooms, events } = setup();
    const a = room('a.txt');
    const b = room('b.txt');
    const pa = peer(a);
    const pb = peer(b);
    pa.setCursor(0);
    pb.setCursor(0);
    expect(presence.list()).toHaveLength(2);
    pa.awareness.setLocalState(null);
    expect(presence.list().map((e) => e.activeFile)).toEqual(['b.txt']);
    rooms.remove(b);
    expect(presence.list()).toEqual([]);
    presence.flush();
    // Both were added and removed within one coalescing window: nothing at all, or added+removed.
    expect(events.filter((e) => e.change === 'added').length).toBe(events.filter((e) => e.change === 'removed').length);
  });

  it('removes a silent Yjs peer after timeoutMs, and tells the other peers', () => {
    const { room, peer, presence } = setup({ timeoutMs: 1000 });
    const r = room('f.txt');
    const silent = peer(r);
    const watcher = peer(r);
    silent.setCursor(0);
    expect(presence.list()).toHaveLength(1);
    const t0 = Date.now();
    presence.sweep(t0 + 500);
    expect(presence.list()).toHaveLength(1);
    presence.sweep(t0 + 1000);
    expect(presence.list()).toEqual([]);
    expect(watcher.others().has(silent.doc.clientID)).toBe(false);
  });

  it('the default time-out is 30 s, the same as y-protocols awareness', () => {
    const { presence } = setup();
    expect(PRESENCE_TIMEOUT_MS).toBe(30_000);
    expect(presence.timeoutMs).toBe(30_000);
    expect(outdatedTimeout).toBe(30_000);
  });
});

describe('PresenceService: RPC clients appear in awareness', () => {
  it('presence.update injects the agent with a cursor that a Yjs peer sees and can resolve', () => {
    const { room, peer, presence } = setup();
    const r = room('src/app.py', 'import os\n\ndef main():\n    pass\n');
    const browser = peer(r);
    const agent = conn('agent', 'ws', 'review-agent');
    const entry = presence.update(agent, { activeFile: 'src/app.py', cursor: { line: 2, character: 4 }, color: '#00ff00' });
    expect(entry).toMatchObject({ id: agent.id, via: 'rpc', kind: 'agent', name: 'review-agent', color: '#00ff00', cursor: { line: 2, character: 4 } });
    const states = [...browser.others().values()] as Record<string, any>[];
    const injected = states.find((s) => s.user?.name === 'review-agent');
    expect(injected).toBeDefined();
    expect(injected!.user).toEqual({ name: 'review-agent', color: '#00ff00', kind: 'agent' });
    const head = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(injected!.cursor.head), browser.doc);
    expect(head?.type).toBe(browser.text);
    expect(head?.index).toBe('import os\n\n'.length + 4);
    expect(injected!.selection).toEqual(injected!.cursor); // y-monaco reads `selection`
    // The agent is not listed twice (once as rpc, once read back from awareness).
    expect(presence.list()).toHaveLength(1);
  });

  it('an agent set before its file is open is injected when the document loads; moving files withdraws it', () => {
    const { room, peer, presence } = setup();
    const agent = conn('agent');
    presence.update(agent, { activeFile: './a.txt', cursor: { line: 0, character: 2 } });
    expect(presence.list()[0]).toMatchObject({ activeFile: 'a.txt', cursor: { line: 0, character: 2 } });
    const a = room('a.txt', 'abcdef');
    const b = room('b.txt', 'x');
    const pa = peer(a);
    const pb = peer(b);
    expect(pa.others().size).toBe(1);
    presence.update(agent, { activeFile: 'b.txt' });
    expect(pa.others().size).toBe(0);
    expect(pb.others().size).toBe(1);
    expect(presence.list()[0]!.cursor).toBeUndefined(); // a cursor belongs to its file
  });

  it("touch() (an agent's docs.applyEdits) shows it in awareness at the edit, and its cursor moves with later edits", () => {
    const { room, peer, presence } = setup();
    const r = room('f.txt', 'line0\nline1\n');
    const browser = peer(r);
    const agent = conn('agent', 'http', 'fixer');
    presence.touch(agent, 'f.txt', 8);
    expect(presence.list()[0]).toMatchObject({ id: 'http:agent:fixer', via: 'rpc', cursor: { line: 1, character: 2 } });
    expect(browser.others().size).toBe(1);
    browser.text.insert(0, 'new\n');
    expect(presence.list()[0]!.cursor).toEqual({ line: 2, character: 2 });
  });

  it('HTTP presence is keyed by kind and name and expires timeoutMs after its last update', () => {
    const { presence, room, peer } = setup({ timeoutMs: 1000 });
    const r = room('f.txt');
    const browser = peer(r);
    // Each HTTP request has its own connection id; the same agent renews one entry.
    presence.update(conn('agent', 'http', 'bot'), { activeFile: 'f.txt' });
    const t0 = Date.now();
    presence.update(conn('agent', 'http', 'bot'), { activeFile: 'f.txt' });
    expect(presence.list()).toHaveLength(1);
    presence.sweep(t0 + 500);
    expect(presence.list()).toHaveLength(1);
    presence.sweep(t0 + 1000);
    expect(presence.list()).toEqual([]);
    expect(browser.others().size).toBe(0);
  });

  it('renews injected states before peers time them out, and keeps WebSocket presence until connection.closed', () => {
    const { presence, room, peer, broker } = setup({ timeoutMs: 1000 });
    const r = room('f.txt');
    const browser = peer(r);
    const agent = conn('agent', 'ws');
    presence.update(agent, { activeFile: 'f.txt' });
    const injectedId = [...browser.others().keys()][0]!;
    const clock = browser.awareness.meta.get(injectedId)!.clock;
    presence.sweep(Date.now() + 5000);
    expect(presence.list()).toHaveLength(1);
    expect(browser.awareness.meta.get(injectedId)!.clock).toBeGreaterThan(clock);
    broker.publish('connection.closed', { id: agent.id }, { connectionId: agent.id, kind: 'agent', name: agent.name });
    expect(presence.list()).toEqual([]);
    expect(browser.others().size).toBe(0);
  });

  it('leave() removes it; maxEntries bounds RPC entries with LIMIT_EXCEEDED', () => {
    const { presence } = setup({ maxEntries: 2 });
    const a = conn('agent');
    presence.update(a, {});
    presence.update(conn('cli'), {});
    expect(() => presence.update(conn('cli'), {})).toThrow(expect.objectContaining({ code: 'LIMIT_EXCEEDED', data: { limit: 'maxConnections', max: 2 } }));
    expect(presence.leave(a)).toBe(true);
    expect(presence.leave(a)).toBe(false);
    presence.update(conn('cli'), {});
  });

  it('colours are deterministic per id and from a small palette', () => {
    expect(colorFor('c-1')).toBe(colorFor('c-1'));
    const seen = new Set(Array.from({ length: 100 }, (_, i) => colorFor(`c-${i}`)));
    for (const c of seen) expect(PRESENCE_PALETTE).toContain(c);
    expect(seen.size).toBeGreaterThan(6);
  });
});

describe('PresenceService: events and hostile peers', () => {
  it('coalesces a burst of cursor moves into few presence.changed events carrying the last position', async () => {
    const { room, peer, presence, events } = setup({ coalesceMs: 20 });
    const r = room('f.txt', 'x'.repeat(1000));
    const p = peer(r);
    for (let i = 0; i < 200; i++) p.setCursor(i);
    presence.flush();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ change: 'added', entry: { cursor: { line: 0, character: 199 } } });
    p.setCursor(500);
    p.setCursor(501);
    await new Promise((res) => setTimeout(res, 60));
    expect(events).toHaveLength(2);
    expect(events[1]).toMatchObject({ change: 'updated', entry: { cursor: { line: 0, character: 501 } } });
    p.awareness.setLocalState(null);
    presence.flush();
    expect(events[2]).toMatchObject({ change: 'removed', id: events[0]!.id });
  });

  it('screen() refuses a whole update holding a 1 MiB state (MESSAGE_TOO_LARGE) or a non-JSON state, and passes good ones as they are', () => {
    const { presence } = setup();
    const big = encodeAwareness([
      { clientId: 7, clock: 1, json: JSON.stringify({ user: { name: 'x'.repeat(1024 * 1024) } }) },
      { clientId: 8, clock: 1, json: JSON.stringify({ user: { name: 'ok' } }) },
    ]);
    expect(() => presence.screen(big)).toThrow(expect.objectContaining({ code: 'MESSAGE_TOO_LARGE' }));
    expect(() => presence.screen(encodeAwareness([{ clientId: 9, clock: 1, json: '{not json' }]))).toThrow(expect.objectContaining({ code: 'INVALID_PARAMS' }));
    expect(() => presence.screen(new Uint8Array([5, 1]))).toThrow();
    const good = encodeAwareness([{ clientId: 8, clock: 1, json: JSON.stringify({ user: { name: 'ok' } }) }]);
    expect(presence.screen(good)).toEqual({ update: good, dropped: [] });
  });

  it("a peer cannot impersonate an injected agent's client id", () => {
    const { presence, room } = setup();
    const r = room('f.txt');
    presence.update(conn('agent'), { activeFile: 'f.txt' });
    const injectedId = [...r.awareness.getStates().keys()][0]!;
    expect(presence.isInjected(injectedId)).toBe(true);
    const forged = encodeAwareness([{ clientId: injectedId, clock: 99, json: '{"user":{"name":"evil"}}' }]);
    // Left out silently (providers echo the states they receive), never applied.
    expect(presence.screen(forged)).toEqual({ update: undefined, dropped: [{ clientId: injectedId, reason: 'reserved' }] });
  });

  it('ignores changes it made itself and the server\'s own (null) local state', () => {
    const { room, presence } = setup();
    const r = room('f.txt');
    applyAwarenessUpdate(r.awareness, encodeAwareness([{ clientId: r.doc.clientID, clock: 5, json: '{"user":{"name":"server"}}' }]), PRESENCE_ORIGIN);
    expect(presence.list()).toEqual([]);
  });
});
