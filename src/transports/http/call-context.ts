import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ByteBudget } from '../../core/byte-budget.js';
import { IcpyError } from '../../core/errors.js';
import type { Principal } from '../../core/principal.js';
import type { ConnectionInfo, MethodContext, ReadBudget } from '../../core/rpc/index.js';
import { httpClientOf, principalOf } from './http-client.js';

export interface HttpReadBudgets {
  /** limits.maxInflightReadBytesPerConnection: one budget per keep-alive socket. */
  perConnection: number;
  /** The server's budget (limits.maxInflightReadBytes), shared with WebSocket connections. */
  server: ByteBudget;
}

/** Waiting reads one connection may queue; one more is LIMIT_EXCEEDED. */
export const MAX_WAITING_READS_PER_CONNECTION = 256;

/**
 * Builds the call context of each HTTP request. An HTTP "connection" (for the per-connection read
 * budget) is the keep-alive TCP socket: requests on one socket share its budget, so a client that
 * opens many sockets is bounded by the server's budget only (as it is with many WebSockets).
 */
export class HttpCallContexts {
  private readonly budgets = new WeakMap<Socket, ByteBudget>();
  /** In-flight calls of agent principals that listen to their signal, by principal id (revocation aborts them). */
  private readonly inflight = new Map<string, Set<AbortController>>();

  constructor(private readonly read: HttpReadBudgets | undefined) {}

  /**
   * The call context of one request. `signal` fires when the client goes away before its reply
   * has been written (the response closes unfinished). It and the read budget are made on first
   * use: most requests need neither, and this is the REST fast path.
   *
   * An instance keeps `signal` and `readBudget` as getters on its class (an object literal with
   * getters per request was a visible part of a 4 KB REST call, issue 9), so spreading it (`{...ctx}`)
   * would drop them: routes whose context is spread (the JSON-RPC codec does) take `spreadable()`.
   */
  of(req: FastifyRequest, reply: FastifyReply): MethodContext {
    return new HttpCallContext(this, req, reply);
  }

  /** A context whose every field survives `{...ctx}` (signal and budget made when first read, as with `of`). */
  spreadable(req: FastifyRequest, reply: FastifyReply): MethodContext {
    const c = this.of(req, reply);
    return {
      connection: c.connection,
      principal: c.principal,
      get signal(): AbortSignal | undefined {
        return c.signal;
      },
      get readBudget(): ReadBudget | undefined {
        return c.readBudget;
      },
    };
  }

  /** @internal the signal of one request (see HttpCallContext). */
  signalFor(req: FastifyRequest, reply: FastifyReply, principal: Principal): AbortSignal {
    const c = new AbortController();
    const res = reply.raw;
    const gone = () => c.abort(new IcpyError('UNAVAILABLE', 'The HTTP client went away before its reply', { reason: 'aborted' }));
    if (res.destroyed || req.raw.socket?.destroyed) gone();
    else {
      const untrack = this.track(principal, c);
      res.once('close', () => {
        untrack();
        if (!res.writableFinished) gone();
      });
    }
    return c.signal;
  }

  /** @internal */
  readBudgetFor(req: FastifyRequest): ReadBudget | undefined {
    return this.budgetOf(req.raw.socket);
  }

  /**
   * Abort the in-flight calls of a principal whose credential was revoked or expired (a long
   * `exec.run {wait, detach: false}`, a search): they end as if their client had gone.
   */
  abortPrincipal(principalId: string, reason: string): void {
    const set = this.inflight.get(principalId);
    if (!set) return;
    this.inflight.delete(principalId);
    for (const c of set) c.abort(new IcpyError('UNAUTHORIZED', reason, { reason: 'credential' }));
  }

  private track(p: Principal, c: AbortController): () => void {
    if (p.kind !== 'agent') return () => {};
    let set = this.inflight.get(p.id);
    if (!set) this.inflight.set(p.id, (set = new Set()));
    set.add(c);
    return () => {
      set.delete(c);
      if (set.size === 0 && this.inflight.get(p.id) === set) this.inflight.delete(p.id);
    };
  }

  private budgetOf(socket: Socket | undefined): ByteBudget | undefined {
    if (!this.read) return undefined;
    if (!socket) return this.read.server;
    let b = this.budgets.get(socket);
    if (!b) {
      b = new ByteBudget({
        max: this.read.perConnection,
        limitName: 'maxInflightReadBytesPerConnection',
        maxWaiting: MAX_WAITING_READS_PER_CONNECTION,
        parent: this.read.server,
      });
      this.budgets.set(socket, b);
    }
    return b;
  }
}

/** One HTTP request's MethodContext (see HttpCallContexts.of). */
class HttpCallContext implements MethodContext {
  readonly connection: ConnectionInfo;
  readonly principal: Principal;
  private made: AbortSignal | undefined;

  constructor(
    private readonly owner: HttpCallContexts,
    private readonly req: FastifyRequest,
    private readonly reply: FastifyReply,
  ) {
    this.connection = httpClientOf(req);
    this.principal = principalOf(req);
  }

  get signal(): AbortSignal {
    return (this.made ??= this.owner.signalFor(this.req, this.reply, this.principal));
  }

  get readBudget(): ReadBudget | undefined {
    return this.owner.readBudgetFor(this.req);
  }
}

const byApp = new WeakMap<FastifyInstance, HttpCallContexts>();

/** The call contexts of a server made by createHttpServer (for routes registered later). */
export function httpContextsOf(app: FastifyInstance): HttpCallContexts {
  const c = byApp.get(app);
  if (!c) throw new Error('httpContextsOf: not an icpy HTTP server');
  return c;
}

export function setHttpContexts(app: FastifyInstance, contexts: HttpCallContexts): void {
  byApp.set(app, contexts);
}
