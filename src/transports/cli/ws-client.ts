import type WebSocket from 'ws';
import { CliError, ExitCode, noServerError, rpcErrorFrom } from './cli-error.js';
import type { ClientIdentity } from './client-identity.js';
import type { ServerTarget } from './discovery.js';

export interface Notification {
  method: string;
  params: any;
}

/**
 * JSON-RPC 2.0 over the WebSocket at /api/ws, for the streaming commands (events, terminal
 * attach). `ws` is loaded only here, so one-shot commands never pay for it.
 */
export class WsRpcClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private readonly listeners = new Set<(n: Notification) => void>();
  /** Resolves with the close code once the socket has closed. */
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      let msg: unknown;
      try {
        msg = JSON.parse(data.toString());
      } catch {
        return;
      }
      for (const m of Array.isArray(msg) ? msg : [msg]) this.onMessage(m as Record<string, any>);
    });
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        const err = new CliError(ExitCode.NoServer, `connection to the icpy server closed (${code}${reason.length ? ` ${reason}` : ''})`);
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
        resolve({ code, reason: reason.toString() });
      });
    });
  }

  static async connect(target: ServerTarget, identity: ClientIdentity): Promise<WsRpcClient> {
    const { default: WebSocketCtor } = await import('ws');
    const u = new URL('/api/ws', target.url.replace(/^http/, 'ws'));
    if (target.token) u.searchParams.set('token', target.token);
    u.searchParams.set('kind', identity.kind);
    u.searchParams.set('name', identity.name);
    const ws = new WebSocketCtor(u, { perMessageDeflate: false });
    const client = new WsRpcClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        ws.terminate();
        reject(new CliError(ExitCode.CallFailed, `server refused the WebSocket: HTTP ${res.statusCode}`));
      });
      ws.once('error', (err: NodeJS.ErrnoException) => {
        reject(noServerError(`cannot reach the icpy server at ${target.url} (${err.code ?? err.message})`));
      });
    });
    // A wrong token is accepted at the HTTP level, then closed with 4401 right away.
    try {
      await client.call('connections.whoami');
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      const { code } = await client.closed;
      if (code === 4401) throw new CliError(ExitCode.CallFailed, 'UNAUTHORIZED: missing or wrong token (check --token / ICPY_TOKEN)');
      throw err;
    }
    return client;
  }

  private onMessage(m: Record<string, any>): void {
    if (m.id !== undefined && m.id !== null && this.pending.has(m.id)) {
      const p = this.pending.get(m.id)!;
      this.pending.delete(m.id);
      if (m.error) p.reject(rpcErrorFrom(m.error));
      else p.resolve(m.result ?? null);
    } else if (typeof m.method === 'string') {
      for (const l of this.listeners) l({ method: m.method, params: m.params });
    }
  }

  call(method: string, params: unknown = {}): Promise<any> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  /** Fire-and-forget call (JSON-RPC notification): used for keystrokes. */
  notify(method: string, params: unknown = {}): void {
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', method, params }));
  }

  onNotification(fn: (n: Notification) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** False once the socket is closing or closed. */
  get isOpen(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  async close(): Promise<void> {
    if (this.ws.readyState === this.ws.CLOSED) return;
    this.ws.close(1000);
    const timer = setTimeout(() => this.ws.terminate(), 1000);
    await this.closed;
    clearTimeout(timer);
  }
}
