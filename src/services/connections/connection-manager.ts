import type { Broker } from '../../core/broker/index.js';
import { IcpyError } from '../../core/errors.js';
import { toDisposable, type Disposable } from '../../core/lifecycle.js';
import type { ConnectionInfo } from '../../core/rpc/index.js';

/** Ends a connection from the server side: a WebSocket closes with `code`, a stream just ends. */
export type CloseConnection = (code: number, reason: string) => void;

export interface ConnectionSummary extends Omit<ConnectionInfo, 'remoteAddress'> {
  subscriptions: number;
}

/**
 * Who is connected. Live connections (WebSocket) register here for as long as they are open;
 * opening and closing publish `connection.opened` / `connection.closed` (the basis of presence).
 */
export class ConnectionManager implements Disposable {
  private readonly live = new Map<string, { info: ConnectionInfo; subscriptions: () => number; close?: CloseConnection }>();
  private disposed = false;

  constructor(
    private readonly broker: Broker,
    private readonly options: { maxConnections?: number } = {},
  ) {}

  /**
   * LIMIT_EXCEEDED when `maxConnections` live connections are open, else undefined. Transports
   * ask before accepting a WebSocket upgrade or an SSE stream.
   */
  admissionError(): IcpyError | undefined {
    const max = this.options.maxConnections;
    if (max === undefined || this.live.size < max) return undefined;
    return new IcpyError('LIMIT_EXCEEDED', `The server holds ${this.live.size} connections, the maximum (maxConnections = ${max}); try again later`, {
      limit: 'maxConnections',
      max,
    });
  }

  /** Stop tracking: connections that close after this (during shutdown) publish nothing. */
  dispose(): void {
    this.disposed = true;
    this.live.clear();
  }

  /**
   * Track a live connection until the returned disposable is disposed. `close` ends it from the
   * server's side (a WebSocket closes with the code, an SSE stream ends): `closePrincipal` calls
   * it when the connection's credential is revoked or expires.
   */
  open(info: ConnectionInfo, subscriptions: () => number = () => 0, close?: CloseConnection): Disposable {
    if (this.disposed) return toDisposable(() => {});
    this.live.set(info.id, { info, subscriptions, close });
    this.broker.publish('connection.opened', publicInfo(info), sourceFor(info));
    return toDisposable(() => this.close(info.id));
  }

  private close(id: string): void {
    const entry = this.live.get(id);
    if (!entry) return;
    this.live.delete(id);
    this.broker.publish('connection.closed', { ...publicInfo(entry.info), closedAt: Date.now() }, sourceFor(entry.info));
  }

  /**
   * Close every live connection of one principal (revoked or expired credential). Each closes on
   * its own (its disposable then publishes `connection.closed`); returns how many were asked to.
   */
  closePrincipal(principalId: string, code: number, reason: string): number {
    let n = 0;
    for (const entry of [...this.live.values()]) {
      if (entry.info.principalId !== principalId || !entry.close) continue;
      n++;
      try {
        entry.close(code, reason);
      } catch {
        // A socket already gone: its own close handler unregisters it.
      }
    }
    return n;
  }

  get(id: string): ConnectionInfo | undefined {
    return this.live.get(id)?.info;
  }

  list(): ConnectionSummary[] {
    return [...this.live.values()].map(({ info, subscriptions }) => ({ ...publicInfo(info), subscriptions: subscriptions() }));
  }

  get size(): number {
    return this.live.size;
  }
}

function publicInfo(info: ConnectionInfo) {
  return { id: info.id, kind: info.kind, name: info.name, transport: info.transport, principalId: info.principalId, connectedAt: info.connectedAt };
}

function sourceFor(info: ConnectionInfo) {
  return { connectionId: info.id, kind: info.kind, name: info.name };
}
