import { IcpyError } from '../errors.js';
import { toDisposable, type Disposable } from '../lifecycle.js';
import { checkPathUses, hasScope, normalizeRel, type PathUse, type Principal } from '../principal.js';
import { findTooDeep } from '../value-depth.js';
import type { MethodContext, OperationDefinition, Scope } from './method.js';
import type { MethodRegistry } from './method-registry.js';
import { invalidParams } from './validation.js';

export interface DispatcherOptions {
  /** Validate every result against its schema (on in tests; costs time in production). */
  checkResults?: boolean;
  /** Sees every non-IcpyError thrown by a handler, with its cause, for logging. */
  onInternalError?: (err: unknown, method: string) => void;
  /**
   * Nesting depth allowed in any one param value (the params object itself does not count),
   * checked without recursion before zod sees the params. Default 64.
   */
  maxValueDepth?: number;
  /**
   * The workspace-relative real path of a param path (every symlink followed, a missing tail
   * appended), or undefined when it cannot be resolved inside the root (the handler then says
   * why). For a path-limited principal each declared path is checked again as resolved, so a
   * link inside the limits that leads outside them is refused for every method at once.
   */
  realPath?: (path: string) => Promise<string | undefined>;
}

/** One finished call, as `onDidCall` listeners see it (after the reply value is known, before it is sent). */
export interface CalledInfo {
  /** `method` (JSON-RPC) or `operation` (REST, streams: `Dispatcher.run`). */
  kind: 'method' | 'operation';
  name: string;
  /** The params as validated (zod output), or as received when they were refused before that. */
  params: unknown;
  ctx: MethodContext;
  /** Undefined when the call succeeded; else what it threw (an IcpyError for every refusal). */
  error?: unknown;
  /** Wall-clock milliseconds from lookup to result (fractional). */
  ms: number;
}

/**
 * The one place a method is called: lookup, scope check, params validation, handler,
 * optional result check. Every transport goes through `call`.
 */
export class Dispatcher {
  private listeners: readonly { fn: (call: CalledInfo) => void; when?: (ctx: MethodContext) => boolean }[] = [];

  constructor(
    readonly registry: MethodRegistry,
    private readonly options: DispatcherOptions = {},
  ) {}

  /**
   * See every call once it finished — success, refusal or failure alike (agents.activity records
   * agents' calls). Listeners run synchronously on the call path, so they must be cheap and must
   * not do I/O inline; one that throws is ignored. `when` picks the calls it wants by their context
   * (checked first): a call no listener wants is not timed or wrapped at all.
   */
  onDidCall(listener: (call: CalledInfo) => void, when?: (ctx: MethodContext) => boolean): Disposable {
    const entry = when ? { fn: listener, when } : { fn: listener };
    this.listeners = [...this.listeners, entry];
    return toDisposable(() => {
      this.listeners = this.listeners.filter((l) => l !== entry);
    });
  }

  private observes(ctx: MethodContext): boolean {
    for (const l of this.listeners) if (!l.when || l.when(ctx)) return true;
    return false;
  }

  async call(method: string, params: unknown, ctx: MethodContext): Promise<unknown> {
    if (!this.observes(ctx)) return this.callInner(method, params, ctx);
    return this.observed('method', method, params, ctx, (seen) => this.callInner(method, params, ctx, seen));
  }

  private async observed<T>(kind: CalledInfo['kind'], name: string, params: unknown, ctx: MethodContext, fn: (seen: { params: unknown }) => Promise<T>): Promise<T> {
    const seen = { params };
    const started = performance.now();
    let error: unknown;
    try {
      return await fn(seen);
    } catch (err) {
      error = err ?? new Error('undefined thrown');
      throw err;
    } finally {
      const info: CalledInfo = { kind, name, params: seen.params, ctx, ms: performance.now() - started };
      if (error !== undefined) info.error = error;
      for (const l of this.listeners) {
        if (l.when && !l.when(ctx)) continue;
        try {
          l.fn(info);
        } catch {
          // an observer's bug never changes a call's outcome
        }
      }
    }
  }

  private async callInner(method: string, params: unknown, ctx: MethodContext, seen?: { params: unknown }): Promise<unknown> {
    const def = this.registry.get(method);
    if (!def) throw new IcpyError('METHOD_NOT_FOUND', `Method not found: ${method}`, { method });
    if (def.ownerOnly) checkOwner(method, ctx.principal);
    checkScope(method, def.scope, ctx);
    if (def.requiresSession && !ctx.session) {
      throw new IcpyError(
        'INVALID_REQUEST',
        `Method ${method} needs a live connection (WebSocket at /api/ws); it cannot be called over ${ctx.connection.transport}`,
      );
    }
    if (Array.isArray(params)) {
      throw new IcpyError('INVALID_PARAMS', 'Invalid params: params must be an object (by-name), not an array', {
        field: '(root)',
      });
    }
    this.checkDepth(params);
    const parsed = def.params.safeParse(params ?? {});
    if (!parsed.success) throw invalidParams(parsed.error);
    if (seen) seen.params = parsed.data;
    if (ctx.principal.paths) await this.checkPaths(method, def, parsed.data, ctx.principal);
    let result = await this.invoke(method, def.handler, parsed.data, ctx);
    if (ctx.principal.paths && def.visible) result = def.visible(result, ctx.principal);
    if (this.options.checkResults) {
      const checked = def.result.safeParse(result);
      if (!checked.success) {
        const err = new Error(`Result of ${method} does not match its schema: ${checked.error.message}`);
        this.options.onInternalError?.(err, method);
        throw err;
      }
    }
    return result ?? null;
  }

  /**
   * Run a declared operation (REST, streams): the same scope check, params validation, error
   * logging and context as `call`. `R` is what the caller expects the operation to return; the
   * transport declares that shape, the service's declaration satisfies it.
   */
  async run<R>(name: string, params: unknown, ctx: MethodContext): Promise<R> {
    if (!this.observes(ctx)) return this.runInner<R>(name, params, ctx);
    return this.observed('operation', name, params, ctx, (seen) => this.runInner<R>(name, params, ctx, seen));
  }

  private async runInner<R>(name: string, params: unknown, ctx: MethodContext, seen?: { params: unknown }): Promise<R> {
    const def = this.registry.getOperation(name);
    if (!def) throw new IcpyError('METHOD_NOT_FOUND', `Operation not found: ${name}`, { method: name });
    checkScope(name, def.scope, ctx);
    // No depth check here: operation params are built by the transport (strings from the URL,
    // a body stream, callbacks), not client JSON; a stream's own state would read as "deep".
    const parsed = def.params.safeParse(params ?? {});
    if (!parsed.success) throw invalidParams(parsed.error);
    if (seen) seen.params = parsed.data;
    if (ctx.principal.paths) await this.checkPaths(name, def, parsed.data, ctx.principal);
    return (await this.invoke(name, def.handler, parsed.data, ctx)) as R;
  }

  /**
   * The one path rule: a path-limited principal may call a method only when it declares the paths
   * it names (each checked lexically, then as resolved through symlinks) or declares itself
   * path-free. Closed by default, so a new method is never a way around the limits. A link
   * swapped between this check and the handler's own resolution is not caught: path-limited
   * principals cannot create links (files.* has no symlink method; execute is not confined).
   */
  private async checkPaths(name: string, def: { paths?: (p: any) => PathUse[]; pathFree?: true }, params: unknown, p: Principal): Promise<void> {
    const rule = p.paths;
    if (!rule) return;
    if (def.paths) return this.assertPaths(p, def.paths(params));
    if (def.pathFree) return;
    throw new IcpyError('FORBIDDEN', `${name} is not available to ${p.name}: its credential is limited to some paths and this method is not`, {
      reason: 'paths',
      method: name,
      paths: [...rule.globs],
    });
  }

  /**
   * The path check of `call`, for entry points that are not methods (a Yjs room): each use
   * lexically, then as resolved through symlinks. Throws the readable FORBIDDEN.
   */
  async assertPaths(p: Principal, uses: readonly PathUse[]): Promise<void> {
    const rule = p.paths;
    if (!rule) return;
    {
      checkPathUses(p, uses);
      const realPath = this.options.realPath;
      if (!realPath) return;
      for (const u of uses) {
        if (u.path === undefined) continue;
        const real = await realPath(u.path);
        const rel = normalizeRel(u.path);
        if (real === undefined || real === rel) continue;
        if (u.use === 'tree' ? rule.mayContain(real) : rule.allows(real)) continue;
        const globs = [...rule.globs];
        throw new IcpyError(
          'FORBIDDEN',
          `${p.name} may only use paths matching ${globs.map((g) => `'${g}'`).join(', ')}; '${rel || '.'}' (${u.field}) leads through a symlink to '${real}', which is outside them`,
          { reason: 'paths', field: u.field, path: rel, real, paths: globs },
        );
      }
    }
  }

  /** No param value nested deeper than maxValueDepth reaches zod or a handler (checked without recursion). */
  private checkDepth(params: unknown): void {
    const maxDepth = this.options.maxValueDepth ?? 64;
    const tooDeep = findTooDeep(params, maxDepth + 1);
    if (tooDeep) {
      const field = tooDeep.join('.') || '(root)';
      throw new IcpyError('INVALID_PARAMS', `Invalid params: ${field}: nested deeper than maxValueDepth (${maxDepth})`, {
        field,
        limit: 'maxValueDepth',
        max: maxDepth,
      });
    }
  }

  private async invoke(name: string, handler: OperationDefinition['handler'], params: unknown, ctx: MethodContext): Promise<unknown> {
    try {
      return await handler(params, ctx);
    } catch (err) {
      if (!(err instanceof IcpyError)) this.options.onInternalError?.(err, name);
      throw err;
    }
  }
}

/**
 * Owner-only methods (credential management): an agent credential never mints, lists or revokes
 * credentials, whatever its scopes — so it cannot widen or outlive what the owner gave it.
 */
function checkOwner(name: string, p: Principal): void {
  if (p.kind === 'owner') return;
  throw new IcpyError(
    'FORBIDDEN',
    `${name} is for the owner only: ${p.name} is an agent credential, and agent credentials never create, list or revoke credentials, whatever their scopes; ask the owner (icpy agent-token …)`,
    { reason: 'owner-only', method: name },
  );
}

/** The one scope rule for every call: the declared scope, or admin. */
function checkScope(name: string, scope: Scope, ctx: MethodContext): void {
  const p = ctx.principal;
  if (!hasScope(p, scope)) {
    const has = [...p.scopes].join(', ') || 'none';
    throw new IcpyError('FORBIDDEN', `${name} needs the '${scope}' scope; ${p.name} has ${has}`, { reason: 'scope', scope, method: name });
  }
}
