/**
 * JSON-RPC 2.0 over the one `/api/ws` socket. The session cookie authenticates it (no token in
 * JS). Reconnects with backoff after a drop or a server restart; subscriptions resume from the
 * last seq they delivered, so an event is neither missed nor repeated (a gap → `onGap`).
 */
import type { ConnectionState, IcpyEvent, RpcClient, Unsubscribe } from './context.js';

export class RpcError extends Error {
  constructor(readonly code: number, message: string, readonly data?: any) {
    super(message);
  }
  /** The stable string of icpy's error table (`FILE_NOT_FOUND`, `EVENTS_GAP`…). */
  get stable(): string | undefined {
    return this.data?.code;
  }
}

interface Pending {
  resolve(v: any): void;
  reject(e: Error): void;
  /** Runs synchronously on the reply, before any later frame is handled (promise continuations
   * may run only after several frames were dispatched: a subscription's replay follows its reply). */
  sync?: (result: any) => void;
}
interface Sub {
  patterns: string[];
  handler(ev: IcpyEvent): void;
  onGap?: () => void;
  /** Highest seq delivered; undefined until the first subscribe has a starting point. */
  lastSeq: number | undefined;
  serverId: string | undefined;
  closed: boolean;
}

const MAX_QUEUE = 1000;
const IDLE_PROBE_MS = 25_000;
const PROBE_TIMEOUT_MS = 10_000;

export class IcpyRpc implements RpcClient {
  private ws: WebSocket | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Calls made while the socket is not open; sent after the open handlers ran. */
  private queue: { msg: string; id: number }[] = [];
  private readonly subs = new Set<Sub>();
  private readonly byServerId = new Map<string, Sub>();
  private readonly notif = new Map<string, Set<(p: any) => void>>();
  private readonly binary = new Set<(d: ArrayBuffer) => void>();
  private readonly stateHandlers = new Set<(s: ConnectionState) => void>();
  private readonly openHandlers = new Set<() => void>();
  private readonly unauthorizedHandlers = new Set<() => void>();
  private ready = false;
  private attempts = 0;
  private epoch: string | number | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private _state: ConnectionState = 'connecting';
  private _connectionId: string | undefined;
  private disposed = false;
  /** True once the server said the browser has no session (no retry then). */
  unauthorized = false;
  /** Set while the server cannot be reached at all (not even /api/health). */
  offline = false;

  /** `httpBase`: where `/api/rpc` is for the no-session probe ('' = this page's origin). */
  constructor(private readonly url: string, private readonly httpBase = '') {
    this.connect();
  }

  get state(): ConnectionState { return this._state; }
  get connectionId(): string | undefined { return this._connectionId; }

  call<T = any>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    if (this.disposed || this.unauthorized) return Promise.reject(new RpcError(-32001, 'Not connected'));
    const id = this.nextId++;
    const msg = JSON.stringify({ jsonrpc: '2.0', id, method, params });
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.ready) this.ws!.send(msg);
      else if (this.queue.length >= MAX_QUEUE) {
        this.pending.delete(id);
        reject(new RpcError(-32008, 'Too many calls waiting for the connection'));
      } else this.queue.push({ msg, id });
    });
  }

  /** Sent on the socket as it is now (used by the open sequence before queued calls go out). */
  private callNow<T = any>(method: string, params: Record<string, unknown> = {}, sync?: (result: T) => void): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, sync });
      this.ws!.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  subscribe(patterns: string[], handler: (ev: IcpyEvent) => void, onGap?: () => void): Unsubscribe {
    const sub: Sub = { patterns, handler, onGap, lastSeq: undefined, serverId: undefined, closed: false };
    this.subs.add(sub);
    if (this.ready) void this.startSub(sub, this.ws!);
    return () => {
      sub.closed = true;
      this.subs.delete(sub);
      if (sub.serverId) {
        this.byServerId.delete(sub.serverId);
        if (this.ready) this.call('events.unsubscribe', { subscription: sub.serverId }).catch(() => {});
      }
    };
  }

  onNotification(method: string, handler: (params: any) => void): Unsubscribe {
    let set = this.notif.get(method);
    if (!set) this.notif.set(method, (set = new Set()));
    set.add(handler);
    return () => set!.delete(handler);
  }

  onBinary(handler: (data: ArrayBuffer) => void): Unsubscribe {
    this.binary.add(handler);
    return () => this.binary.delete(handler);
  }

  onState(handler: (state: ConnectionState) => void): Unsubscribe {
    this.stateHandlers.add(handler);
    return () => this.stateHandlers.delete(handler);
  }

  onOpen(handler: () => void): Unsubscribe {
    this.openHandlers.add(handler);
    if (this.ready) handler();
    return () => this.openHandlers.delete(handler);
  }

  onUnauthorized(handler: () => void): Unsubscribe {
    this.unauthorizedHandlers.add(handler);
    if (this.unauthorized) handler();
    return () => this.unauthorizedHandlers.delete(handler);
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.idleTimer);
    this.ws?.close(1000);
    this.setState('closed');
  }

  private setState(s: ConnectionState): void {
    if (this._state === s) return;
    this._state = s;
    for (const h of [...this.stateHandlers]) h(s);
  }

  private connect(): void {
    if (this.disposed) return;
    const ws = new WebSocket(this.url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      void this.openSequence(ws);
    };
    ws.onmessage = (e) => {
      this.armIdle(ws);
      if (typeof e.data === 'string') this.onText(e.data);
      else for (const h of [...this.binary]) h(e.data as ArrayBuffer);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ready = false;
      clearTimeout(this.idleTimer);
      for (const s of this.subs) s.serverId = undefined;
      this.byServerId.clear();
      // Calls in flight may or may not have run on the server: they fail, the caller decides.
      const queued = new Set(this.queue.map((q) => q.id));
      for (const [id, p] of this.pending) {
        if (queued.has(id)) continue;
        this.pending.delete(id);
        p.reject(new RpcError(-32000, 'Connection lost'));
      }
      if (this.disposed) return;
      if (e.code === 4401) return this.setUnauthorized();
      if (!opened) void this.probe();
      else this.retry();
    };
  }

  /** A socket that never opened: a refused upgrade looks like 1006, so ask over HTTP why. */
  private async probe(): Promise<void> {
    try {
      const r = await fetch(this.httpBase + '/api/rpc', {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, credentials: 'same-origin',
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server.info', params: {} }),
      });
      this.offline = false;
      if (r.status === 401) return this.setUnauthorized();
    } catch {
      this.offline = true;
    }
    this.retry();
  }

  private setUnauthorized(): void {
    this.unauthorized = true;
    for (const q of this.queue) this.pending.get(q.id)?.reject(new RpcError(-32001, 'No session'));
    this.queue = [];
    this.pending.clear();
    this.setState('closed');
    for (const h of [...this.unauthorizedHandlers]) h();
  }

  private retry(): void {
    this.setState('reconnecting');
    const delay = Math.min(5000, 250 * 2 ** Math.min(this.attempts++, 5)) * (0.75 + Math.random() * 0.5);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Who am I, then the epoch check, open handlers, subscriptions, then the queued calls. */
  private async openSequence(ws: WebSocket): Promise<void> {
    try {
      const me = await this.callNow<{ id: string }>('connections.whoami');
      this._connectionId = me.id;
      const status = await this.callNow<{ epoch: string | number; lastSeq: number }>('events.status');
      if (this.epoch !== undefined && status.epoch !== this.epoch) {
        // Another server (restarted): seqs restart, so every subscription resyncs from now.
        for (const s of this.subs) { s.lastSeq = status.lastSeq; s.onGap?.(); }
      }
      this.epoch = status.epoch;
      if (this.ws !== ws) return;
      this.attempts = 0;
      this.offline = false;
      this.ready = true;
      for (const h of [...this.openHandlers]) {
        try { h(); } catch (e) { console.error(e); }
      }
      for (const s of this.subs) void this.startSub(s, ws, status.lastSeq);
      const q = this.queue;
      this.queue = [];
      for (const item of q) ws.send(item.msg);
      this.armIdle(ws);
      this.setState('open');
    } catch (e) {
      console.warn('icpy: open sequence failed', e);
      ws.close();
    }
  }

  private async startSub(sub: Sub, ws: WebSocket, knownLast?: number): Promise<void> {
    try {
      if (sub.lastSeq === undefined) {
        // A starting point, so a drop before the first event still resumes without a hole.
        sub.lastSeq = knownLast ?? (await this.callNow<{ lastSeq: number }>('events.status')).lastSeq;
      }
      const id = await this.callNow<string>('events.subscribe', { patterns: sub.patterns, since: sub.lastSeq }, (sid) => {
        if (sub.closed || this.ws !== ws) return;
        sub.serverId = sid;
        this.byServerId.set(sid, sub);
      });
      if (sub.closed && this.ws === ws && this.ready) this.callNow('events.unsubscribe', { subscription: id }).catch(() => {});
    } catch (e) {
      if (e instanceof RpcError && e.stable === 'EVENTS_GAP' && !sub.closed && this.ws === ws) {
        sub.lastSeq = e.data?.lastSeq;
        sub.onGap?.();
        return this.startSub(sub, ws, e.data?.lastSeq);
      }
      if (this.ws === ws) console.warn('icpy: subscribe failed', sub.patterns, e);
    }
  }

  private onText(text: string): void {
    let msg: any;
    try { msg = JSON.parse(text); } catch { return; }
    if (Array.isArray(msg)) { for (const m of msg) this.onMessage(m); return; }
    this.onMessage(msg);
  }

  private onMessage(msg: any): void {
    if (msg && msg.id != null && ('result' in msg || 'error' in msg)) {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new RpcError(msg.error.code, msg.error.message, msg.error.data));
      else {
        try { p.sync?.(msg.result); } catch (e) { console.error(e); }
        p.resolve(msg.result);
      }
      return;
    }
    if (!msg || typeof msg.method !== 'string') return;
    if (msg.method === 'event') {
      const sub = this.byServerId.get(msg.params?.subscription);
      if (!sub) return;
      const ev = msg.params as IcpyEvent;
      if (sub.lastSeq !== undefined && ev.seq <= sub.lastSeq) return;
      sub.lastSeq = ev.seq;
      try { sub.handler(ev); } catch (e) { console.error(e); }
      return;
    }
    if (msg.method === 'events.lagged') {
      const sub = this.byServerId.get(msg.params?.subscription);
      if (sub && this.ready) {
        this.byServerId.delete(msg.params.subscription);
        sub.serverId = undefined;
        sub.lastSeq = msg.params.lastDeliveredSeq ?? sub.lastSeq;
        void this.startSub(sub, this.ws!);
      }
    }
    for (const h of [...(this.notif.get(msg.method) ?? [])]) {
      try { h(msg.params); } catch (e) { console.error(e); }
    }
  }

  /** A network that drops silently never closes the socket: probe when it has been quiet. */
  private armIdle(ws: WebSocket): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.ws !== ws || !this.ready) return;
      const t = setTimeout(() => ws.close(4000, 'probe timeout'), PROBE_TIMEOUT_MS);
      this.callNow('server.info').then(() => clearTimeout(t), () => clearTimeout(t));
    }, IDLE_PROBE_MS);
  }
}
