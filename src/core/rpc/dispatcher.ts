import { IcpyError } from '../errors.js';
import type { MethodContext, OperationDefinition, Scope } from './method.js';
import type { MethodRegistry } from './method-registry.js';
import { invalidParams } from './validation.js';

export interface DispatcherOptions {
  /** Validate every result against its schema (on in tests; costs time in production). */
  checkResults?: boolean;
  /** Sees every non-IcpyError thrown by a handler, with its cause, for logging. */
  onInternalError?: (err: unknown, method: string) => void;
}

/**
 * The one place a method is called: lookup, scope check, params validation, handler,
 * optional result check. Every transport goes through `call`.
 */
export class Dispatcher {
  constructor(
    readonly registry: MethodRegistry,
    private readonly options: DispatcherOptions = {},
  ) {}

  async call(method: string, params: unknown, ctx: MethodContext): Promise<unknown> {
    const def = this.registry.get(method);
    if (!def) throw new IcpyError('METHOD_NOT_FOUND', `Method not found: ${method}`, { method });
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
    const parsed = def.params.safeParse(params ?? {});
    if (!parsed.success) throw invalidParams(parsed.error);
    const result = await this.invoke(method, def.handler, parsed.data, ctx);
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
    const def = this.registry.getOperation(name);
    if (!def) throw new IcpyError('METHOD_NOT_FOUND', `Operation not found: ${name}`, { method: name });
    checkScope(name, def.scope, ctx);
    const parsed = def.params.safeParse(params ?? {});
    if (!parsed.success) throw invalidParams(parsed.error);
    return (await this.invoke(name, def.handler, parsed.data, ctx)) as R;
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

/** The one scope rule for every call: the declared scope, or admin. */
function checkScope(name: string, scope: Scope, ctx: MethodContext): void {
  if (!ctx.scopes.has(scope) && !ctx.scopes.has('admin')) {
    throw new IcpyError('FORBIDDEN', `${name} needs the '${scope}' scope`, { scope });
  }
}
