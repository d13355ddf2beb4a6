import { randomUUID } from 'node:crypto';
import type { Broker, EventSource } from '../core/broker/index.js';
import { IcpyError } from '../core/errors.js';
import type { Disposable } from '../core/lifecycle.js';
import type { Logger } from '../core/logger.js';
import type { Principal } from '../core/principal.js';
import { hasScope } from '../core/principal.js';
import type { ConnectionInfo, Dispatcher, MethodContext, MethodRegistry } from '../core/rpc/index.js';
import type { FrameworkRunner } from './adapters/run-options.js';
import { modelFetch, type ModelEndpoint } from './model-endpoint.js';
import { ToolBridge, type ToolCallReport } from './tool-bridge.js';
import type { Framework, WorkflowInfo } from './workflow.js';
import { BUILTIN_WORKFLOWS } from './workflows/index.js';
import { loadWorkspaceWorkflows } from './workspace-workflows.js';

export interface WorkflowServiceOptions {
  root: string;
  registry: MethodRegistry;
  dispatcher: Dispatcher;
  broker: Broker;
  logger: Logger;
  endpoint: ModelEndpoint;
  maxConcurrentRuns: number;
  maxTurns: number;
  runTimeoutMs: number;
  /**
   * Register the run as a live connection (kind agent), so it shows as a collaborator; `close`
   * is called when the principal's access ends (revocation, expiry) and cancels the run.
   */
  openConnection(info: ConnectionInfo, close: (reason: string) => void): Disposable;
}

/**
 * The SDKs load on a workflow's first run, not at server start (together they add ~0.4 s and
 * ~50 MB to a server that may never run one).
 */
const RUNNERS: Record<Framework, () => Promise<FrameworkRunner>> = {
  'openai-agents': async () => (await import('./adapters/openai-agents.js')).runOpenAIAgents,
  langgraph: async () => (await import('./adapters/langgraph.js')).runLangGraph,
};

/** Text put in an event is at most this long (final output, input echo). */
const MAX_EVENT_TEXT = 16 * 1024;
/** Distinct paths a run's text events name; past it they name the root (unlimited readers only). */
const MAX_REACH_PATHS = 32;
/** A string argument of a tool call is echoed in agents.run.tool.called up to this length. */
const MAX_EVENT_ARG_CHARS = 1024;

type EndReason = 'cancelled' | 'timeout';

interface LiveRun {
  id: string;
  workflow: string;
  principalId: string;
  controller: AbortController;
  done: Promise<void>;
}

/**
 * Workflow runs (agents.run): each acts for the caller's principal (its scopes and path limits
 * apply to every tool call, through the one dispatcher) as a connection of kind `agent` named
 * after the workflow, so its edits and commands are attributed to it. Bounded by
 * maxConcurrentRuns, maxTurns and runTimeoutMs; a cancel aborts the model request in flight. A
 * failing or crashing workflow ends in agents.run.failed; it never escapes to the server.
 */
export class WorkflowService {
  private readonly runs = new Map<string, LiveRun>();
  private disposed = false;

  constructor(private readonly o: WorkflowServiceOptions) {}

  async list(): Promise<WorkflowInfo[]> {
    const builtin: WorkflowInfo[] = BUILTIN_WORKFLOWS.map((w) => ({ ...w, from: 'builtin' }));
    const taken = new Set(builtin.map((w) => w.name));
    const workspace = (await loadWorkspaceWorkflows(this.o.root, this.o.logger)).filter((w) => {
      if (taken.has(w.name)) return false;
      taken.add(w.name);
      return true;
    });
    return [...builtin, ...workspace];
  }

  async start(params: { workflow: string; input: string; model?: string }, ctx: MethodContext): Promise<{ runId: string }> {
    if (this.disposed) throw new IcpyError('UNAVAILABLE', 'The server is shutting down');
    if (!this.o.endpoint.baseUrl) {
      throw new IcpyError('MODEL_UNAVAILABLE', 'No model endpoint is configured: set ICPY_AGENTS_BASE_URL (an OpenAI-compatible /v1 URL) and ICPY_AGENTS_API_KEY', {
        setting: 'agents.baseUrl',
      });
    }
    const all = await this.list();
    const workflow = all.find((w) => w.name === params.workflow);
    if (!workflow) {
      throw new IcpyError('WORKFLOW_NOT_FOUND', `No workflow named '${params.workflow}'; available: ${all.map((w) => w.name).join(', ')}`, {
        workflow: params.workflow,
        available: all.map((w) => w.name),
      });
    }
    if (this.disposed) throw new IcpyError('UNAVAILABLE', 'The server is shutting down');
    const max = this.o.maxConcurrentRuns;
    if (this.runs.size >= max) {
      throw new IcpyError('LIMIT_EXCEEDED', `${this.runs.size} workflow runs are going, the maximum (agents.maxConcurrentRuns = ${max}); cancel one or wait`, {
        limit: 'agents.maxConcurrentRuns',
        max,
      });
    }
    const id = randomUUID();
    const controller = new AbortController();
    const connection: ConnectionInfo = {
      id: `agent-run-${id}`,
      kind: 'agent',
      name: workflow.name,
      transport: 'internal',
      principalId: ctx.principal.id,
      connectedAt: Date.now(),
    };
    const run: LiveRun = { id, workflow: workflow.name, principalId: ctx.principal.id, controller, done: Promise.resolve() };
    this.runs.set(id, run);
    const source: EventSource = { connectionId: connection.id, kind: 'agent', name: workflow.name };
    const model = params.model ?? this.o.endpoint.model;
    this.o.broker.publish('agents.run.started', { runId: id, workflow: workflow.name, framework: workflow.framework, model, input: clipText(params.input) }, source);
    run.done = this.execute(run, workflow, params.input, model, ctx.principal, connection, source)
      // execute() reports its own failures as agents.run.failed; this only keeps a bug in that
      // reporting from becoming an unhandled rejection (which would end the process).
      .catch((err) => this.o.logger.error('agents: workflow run bookkeeping failed', { runId: id, err: err instanceof Error ? err.stack : String(err) }))
      .finally(() => this.runs.delete(id));
    return { runId: id };
  }

  cancel(runId: string, principal: Principal): { cancelled: true } {
    const run = this.runs.get(runId);
    // Someone else's run is reported as unknown (admins may cancel any).
    if (!run || (run.principalId !== principal.id && !hasScope(principal, 'admin'))) {
      throw new IcpyError('AGENT_RUN_NOT_FOUND', `No running workflow run '${runId}' of yours (finished runs cannot be cancelled)`, { runId });
    }
    run.controller.abort(endReason('cancelled'));
    return { cancelled: true };
  }

  /** Cancel every run and wait (bounded) for each to end, so nothing writes after shutdown. */
  async dispose(): Promise<void> {
    this.disposed = true;
    const live = [...this.runs.values()];
    for (const r of live) r.controller.abort(endReason('cancelled', 'the server is shutting down'));
    await Promise.race([Promise.allSettled(live.map((r) => r.done)), new Promise((r) => setTimeout(r, 5000).unref())]);
  }

  private async execute(
    run: LiveRun,
    workflow: WorkflowInfo,
    input: string,
    model: string,
    principal: Principal,
    connection: ConnectionInfo,
    source: EventSource,
  ): Promise<void> {
    const started = Date.now();
    const { broker } = this.o;
    const signal = run.controller.signal;
    const timer = setTimeout(() => run.controller.abort(endReason('timeout')), this.o.runTimeoutMs);
    let conn: { dispose(): void } | undefined;
    let tools: ToolBridge | undefined;
    let step = 0;
    let httpError: { status: number; body: string } | undefined;
    const base = { runId: run.id, workflow: workflow.name };
    try {
      conn = this.o.openConnection(connection, (why) => run.controller.abort(endReason('cancelled', why)));
      const ctx: MethodContext = { connection, principal, signal };
      // The model's text can quote what its tools returned: its deltas and output name every path a
      // successful tool call named, so they reach only who may read all of them.
      const reach = new Set<string>();
      const reachPaths = () => (reach.size > MAX_REACH_PATHS ? [''] : [...reach]);
      tools = new ToolBridge(this.o.registry, this.o.dispatcher, ctx, workflow.tools, (r: ToolCallReport) => {
        if (r.ok) for (const p of r.paths) reach.add(p);
        broker.publish('agents.run.tool.called', { ...base, step, tool: r.tool, method: r.method, args: clipArgs(r.args), ok: r.ok, error: r.error, paths: r.paths }, source);
      });
      const fetchFn = modelFetch(signal, this.o.maxTurns, {
        onRequest: (n) => {
          step = n;
          broker.publish('agents.run.step', { ...base, step: n }, source);
        },
        onHttpError: (status, body) => (httpError = { status, body }),
      });
      // Yield first: the caller gets {runId} before the model is asked anything.
      await new Promise((r) => setImmediate(r));
      const runner = await RUNNERS[workflow.framework]();
      const output = await runner({
        workflow,
        input,
        endpoint: { ...this.o.endpoint, model },
        fetch: fetchFn,
        tools,
        signal,
        maxTurns: this.o.maxTurns,
        onDelta: (delta) => broker.publish('agents.run.message.delta', { ...base, step, delta, paths: reachPaths() }, source),
      });
      broker.publish('agents.run.completed', { ...base, output: clipText(output), paths: reachPaths(), steps: step, toolCalls: tools.calls, durationMs: Date.now() - started }, source);
    } catch (err) {
      const failure = this.failureOf(err, signal, httpError, workflow.name);
      broker.publish('agents.run.failed', { ...base, ...failure, steps: step, toolCalls: tools?.calls ?? 0, durationMs: Date.now() - started }, source);
    } finally {
      clearTimeout(timer);
      conn?.dispose();
    }
  }

  private failureOf(err: unknown, signal: AbortSignal, httpError: { status: number; body: string } | undefined, workflow: string) {
    const ended = signal.aborted ? (signal.reason as { icpyEnd?: EndReason; why?: string } | undefined) : undefined;
    if (ended?.icpyEnd === 'cancelled') return { reason: 'cancelled' as const, code: null, message: `Cancelled: ${ended.why}` };
    if (ended?.icpyEnd === 'timeout') {
      return { reason: 'timeout' as const, code: 'TIMEOUT', message: `The run took longer than agents.runTimeoutMs (${this.o.runTimeoutMs} ms)` };
    }
    // Ours (maxTurns at the model fetch…), possibly wrapped by the SDKs as a cause.
    const own = icpyErrorIn(err);
    if (own) return { reason: 'error' as const, code: own.code, message: own.message };
    const name = (err as { name?: string } | null)?.name ?? '';
    if (name === 'MaxTurnsExceededError' || name === 'GraphRecursionError') {
      return { reason: 'error' as const, code: 'LIMIT_EXCEEDED', message: `The run took more than agents.maxTurns (${this.o.maxTurns}) model turns` };
    }
    if (httpError) {
      const message = modelMessage(httpError.body);
      return { reason: 'error' as const, code: 'MODEL_ERROR', message: `The model endpoint answered HTTP ${httpError.status}: ${message}`, data: { status: httpError.status, message } };
    }
    const text = err instanceof Error ? err.message : String(err);
    const cause = (err as { cause?: { code?: string; message?: string } } | null)?.cause;
    if (name === 'APIConnectionError' || /fetch failed|ECONNREFUSED|ENOTFOUND/.test(`${text} ${cause?.code ?? ''} ${cause?.message ?? ''}`)) {
      return { reason: 'error' as const, code: 'MODEL_UNAVAILABLE', message: `The model endpoint ${this.o.endpoint.baseUrl} cannot be reached: ${(cause?.message ?? text).slice(0, 300)}` };
    }
    // Other model-side failures the SDKs raise (a malformed or refused answer, a tool the model
    // invented) are the model's; anything else is our bug and logged.
    if (/^(APIError|ModelBehaviorError|ModelRefusalError|ModelTimeoutError|AgentsError|ToolCallError)$/.test(name)) {
      return { reason: 'error' as const, code: 'MODEL_ERROR', message: `The model call failed: ${text.slice(0, 500)}` };
    }
    this.o.logger.error('agents: workflow run crashed', { workflow, err: err instanceof Error ? err.stack : String(err) });
    return { reason: 'error' as const, code: 'INTERNAL_ERROR', message: 'The workflow failed inside icpy (logged on the server)' };
  }
}

function icpyErrorIn(err: unknown): IcpyError | undefined {
  for (let e = err, i = 0; e && i < 6; e = (e as { cause?: unknown }).cause, i++) if (e instanceof IcpyError) return e;
  return undefined;
}

function endReason(icpyEnd: EndReason, why = 'agents.cancel') {
  return { icpyEnd, why, name: 'AbortError', message: icpyEnd === 'timeout' ? 'run timed out' : `run cancelled (${why})` };
}

function clipText(s: string): string {
  return s.length <= MAX_EVENT_TEXT ? s : `${s.slice(0, MAX_EVENT_TEXT)}… [${s.length - MAX_EVENT_TEXT} more characters]`;
}

/** Tool arguments as an event shows them: long strings (a whole file's content) cut. */
function clipArgs(args: unknown): unknown {
  if (typeof args === 'string') return args.slice(0, MAX_EVENT_ARG_CHARS);
  if (!args || typeof args !== 'object' || Array.isArray(args)) return args ?? null;
  const out: Record<string, unknown> = Object.create(null);
  for (const [k, v] of Object.entries(args).slice(0, 32)) {
    if (typeof v === 'string' && v.length > MAX_EVENT_ARG_CHARS) out[k] = `${v.slice(0, MAX_EVENT_ARG_CHARS)}… [${v.length - MAX_EVENT_ARG_CHARS} more characters]`;
    else if (v && typeof v === 'object') {
      const j = JSON.stringify(v);
      out[k] = j.length > MAX_EVENT_ARG_CHARS ? `${j.slice(0, MAX_EVENT_ARG_CHARS)}…` : v;
    } else out[k] = v;
  }
  return { ...out };
}

function modelMessage(body: string): string {
  try {
    const j = JSON.parse(body);
    return String(j?.error?.message ?? body).slice(0, 500);
  } catch {
    return body.slice(0, 500);
  }
}
