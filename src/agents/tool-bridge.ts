import { IcpyError } from '../core/errors.js';
import type { Dispatcher, MethodContext, MethodRegistry } from '../core/rpc/index.js';
import { toolsFor, type ToolSpec } from '../core/rpc/index.js';

/** What a tool call looked like, for `agents.run.tool.called`. */
export interface ToolCallReport {
  tool: string;
  method: string;
  args: unknown;
  ok: boolean;
  error?: { code: string; message: string };
  /** Workspace paths the call named (from the method's declaration), so the event is filtered like the call. */
  paths: string[];
}

/**
 * Tools a workflow gets only when it lists them: a run starting runs is an orchestrator's choice,
 * not a default (each still counts against agents.maxConcurrentRuns).
 */
const ONLY_WHEN_LISTED: ReadonlySet<string> = new Set(['agents.run', 'agents.cancel']);

/** A text a model reads is at most this long (a tool result beyond it is cut, and says so). */
export const MAX_TOOL_OUTPUT_CHARS = 64 * 1024;

/**
 * icpy's tools for one run, as a framework adapter needs them: the specs the caller's principal
 * may call (filtered to the workflow's list), and `call`, which goes through the one dispatcher
 * with the run's context and always answers text — a result as JSON, or a refusal/error the
 * model can read (what was refused and why). It throws only when the run itself was aborted.
 */
export class ToolBridge {
  readonly specs: ToolSpec[];
  private readonly byName: Map<string, ToolSpec>;
  calls = 0;

  constructor(
    private readonly registry: MethodRegistry,
    private readonly dispatcher: Dispatcher,
    private readonly ctx: MethodContext,
    allow: readonly string[] | undefined,
    private readonly report: (r: ToolCallReport) => void,
  ) {
    const allowed = allow ? new Set(allow) : undefined;
    this.specs = toolsFor(registry, ctx.principal).filter((t) => (allowed ? allowed.has(t.name) : !ONLY_WHEN_LISTED.has(t.method)));
    this.byName = new Map(this.specs.map((t) => [t.name, t]));
  }

  async call(name: string, args: unknown): Promise<string> {
    this.ctx.signal?.throwIfAborted();
    const spec = this.byName.get(name);
    if (!spec) {
      const text = `Error: there is no tool '${name}' for you. Your tools: ${this.specs.map((t) => t.name).join(', ')}.`;
      this.report({ tool: name, method: '', args, ok: false, error: { code: 'METHOD_NOT_FOUND', message: text }, paths: [''] });
      return text;
    }
    this.calls += 1;
    const params = typeof args === 'string' ? parseArgs(args) : args;
    const paths = this.pathsOf(spec.method, params);
    try {
      const result = await this.dispatcher.call(spec.method, params, this.ctx);
      this.report({ tool: name, method: spec.method, args: params, ok: true, paths });
      return clip(JSON.stringify(result ?? null));
    } catch (err) {
      this.ctx.signal?.throwIfAborted();
      const e = err instanceof IcpyError ? err : undefined;
      const code = e?.code ?? 'INTERNAL_ERROR';
      const message = e?.message ?? 'the tool failed inside icpy (logged on the server)';
      this.report({ tool: name, method: spec.method, args: params, ok: false, error: { code, message }, paths });
      const data = e?.data !== undefined ? ` Details: ${clip(JSON.stringify(e.data), 4000)}` : '';
      return `Error ${code}: ${message}.${data}`;
    }
  }

  /**
   * The paths a call names, from its method's declaration; `['']` (the workspace root: only
   * principals without path limits) when they cannot be known, so a tool.called event is never
   * less closed than the call.
   */
  private pathsOf(method: string, params: unknown): string[] {
    const def = this.registry.get(method);
    if (!def) return [''];
    if (def.paths) {
      const parsed = def.params.safeParse(params ?? {});
      return parsed.success ? def.paths(parsed.data).flatMap((u) => (u.path === undefined ? [] : [u.path])) : [''];
    }
    return def.pathFree ? [] : [''];
  }
}

function parseArgs(s: string): unknown {
  try {
    return s.trim() === '' ? {} : JSON.parse(s);
  } catch {
    return s; // the dispatcher answers INVALID_PARAMS, which the model reads
  }
}

function clip(s: string, max = MAX_TOOL_OUTPUT_CHARS): string {
  return s.length <= max ? s : `${s.slice(0, max)}… [cut: ${s.length - max} more characters; read a smaller range]`;
}
