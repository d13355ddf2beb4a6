import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { createApp, type App, type CreateAppOptions } from '../../src/app/create-app.js';
import type { IcpyConfigInput } from '../../src/app/config.js';
import type { Logger } from '../../src/core/logger.js';

export interface TestServer {
  app: App;
  url: string;
  wsUrl: string;
  token: string;
  root: string;
  /** POST /api/rpc with the token; returns parsed JSON (or undefined for 204). */
  rpc(body: unknown, init?: { token?: string | null; headers?: Record<string, string> }): Promise<{ status: number; body: any }>;
  /** Call one method over HTTP JSON-RPC and return its result (throws RpcError on error). */
  call(method: string, params?: unknown): Promise<any>;
  /** JSON-RPC over HTTP as another principal (an agent credential); throws RpcError on an error reply. */
  callAs(token: string, method: string, params?: unknown): Promise<any>;
  close(): Promise<void>;
}

export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data: any,
  ) {
    super(message);
  }
}

/** A real server on port 0 over a fresh temporary workspace (removed on close). */
export async function startServer(config: IcpyConfigInput = {}, options: CreateAppOptions & { keepRoot?: boolean } = {}): Promise<TestServer> {
  const root = config.root ?? mkdtempSync(join(tmpdir(), 'icpy-test-'));
  const token = config.token ?? 'test-token-' + Math.random().toString(36).slice(2);
  const app = await createApp({ port: 0, host: '127.0.0.1', logLevel: 'silent', checkResults: true, ...config, root, token }, options);
  const { url } = await app.listen();
  let nextId = 1;
  const rpc: TestServer['rpc'] = async (body, init = {}) => {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...init.headers };
    const t = init.token === undefined ? token : init.token;
    if (t !== null) headers.authorization = `Bearer ${t}`;
    const res = await fetch(`${url}/api/rpc`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  return {
    app,
    url,
    wsUrl: url.replace(/^http/, 'ws') + '/api/ws',
    token,
    root,
    rpc,
    async call(method, params) {
      const { body } = await rpc({ jsonrpc: '2.0', id: nextId++, method, params });
      if (body.error) throw new RpcError(body.error.code, body.error.message, body.error.data);
      return body.result;
    },
    async callAs(token, method, params) {
      const { body } = await rpc({ jsonrpc: '2.0', id: nextId++, method, params }, { token });
      if (body.error) throw new RpcError(body.error.code, body.error.message, body.error.data);
      return body.result;
    },
    async close() {
      await app.close();
      if (!config.root && !options.keepRoot) rmSync(root, { recursive: true, force: true });
    },
  };
}

export interface Notification {
  method: string;
  params: any;
}

/** A JSON-RPC client over a real WebSocket, collecting notifications. */
export class WsClient {
  readonly notifications: Notification[] = [];
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: any) => void; reject: (e: any) => void }>();
  private waiters: (() => void)[] = [];
  closeCode: number | undefined;
  closeReason = '';
  readonly closed: Promise<number>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      for (const m of Array.isArray(msg) ? msg : [msg]) this.onMessage(m);
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        for (const p of this.pending.values()) p.reject(new Error(`socket closed (${code})`));
        this.pending.clear();
        this.wake();
        resolve(code);
      }),
    );
  }

  private onMessage(m: any): void {
    if (m.id !== undefined && m.id !== null && this.pending.has(m.id)) {
      const p = this.pending.get(m.id)!;
      this.pending.delete(m.id);
      if (m.error) p.reject(new RpcError(m.error.code, m.error.message, m.error.data));
      else p.resolve(m.result);
    } else if (m.method) {
      this.notifications.push(m);
    } else {
      this.notifications.push({ method: '(response)', params: m });
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  call(method: string, params?: unknown): Promise<any> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  send(raw: string | object): void {
    this.ws.send(typeof raw === 'string' ? raw : JSON.stringify(raw));
  }

  /** Event notifications (method "event") received so far. */
  events(): any[] {
    return this.notifications.filter((n) => n.method === 'event').map((n) => n.params);
  }

  /** Wait until `pred()` is true, re-checking on every message; rejects after timeoutMs. */
  async waitFor<T>(pred: () => T | undefined | false, timeoutMs = 5000, what = 'condition'): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = pred();
      if (v) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await this.closed;
  }
}

export interface ConnectOptions {
  token?: string | null;
  kind?: string;
  name?: string;
  headers?: Record<string, string>;
  wsOptions?: WebSocket.ClientOptions;
}

/** Open a WebSocket to the server; resolves once open (or rejects on HTTP refusal). */
export function connect(server: Pick<TestServer, 'wsUrl' | 'token'>, opts: ConnectOptions = {}): Promise<WsClient> {
  const u = new URL(server.wsUrl);
  const token = opts.token === undefined ? server.token : opts.token;
  if (token !== null) u.searchParams.set('token', token);
  if (opts.kind) u.searchParams.set('kind', opts.kind);
  if (opts.name) u.searchParams.set('name', opts.name);
  const ws = new WebSocket(u, { headers: opts.headers, ...opts.wsOptions });
  const client = new WsClient(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => {
      reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }));
      res.resume();
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

/** The RpcError a call fails with (fails the test when it succeeds or throws something else). */
export async function rpcError(p: Promise<unknown>): Promise<RpcError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof RpcError)) throw new Error(`expected an RPC error, got ${err === undefined ? 'success' : String(err)}`);
  return err;
}
