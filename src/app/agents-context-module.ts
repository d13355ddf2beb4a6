import { isAbsolute, join, relative, sep } from 'node:path';
import { DisposableStore } from '../core/lifecycle.js';
import { describeError } from '../core/logger.js';
import { SYSTEM_PRINCIPAL } from '../core/principal.js';
import type { CalledInfo, MethodContext } from '../core/rpc/index.js';
import { activityOf, createAgentsContextMethods, type ActivityRecord, type ActivityStore, type ContextPorts, type TerminalView, type WorkspaceView } from '../services/agents/index.js';
import { STATE_DIR_NAME } from '../storage/index.js';
import { SqliteAgentActivity } from '../storage/sqlite-agent-activity.js';
import type { AppContext, AppModule } from './modules.js';

/** An agent that read or wrote one of these shows in presence at that file (docs.applyEdits does so itself). */
const PRESENCE_METHODS = new Set(['files.read', 'files.write', 'docs.get', 'docs.open', 'files.rest.open', 'files.rest.put']);

/** In-process reads of other services' state go through their methods, as the system. */
function internalContext(): MethodContext {
  return {
    connection: { id: 'agents-context', kind: 'system', name: 'icpy', transport: 'internal', principalId: SYSTEM_PRINCIPAL.id, connectedAt: Date.now() },
    principal: SYSTEM_PRINCIPAL,
  };
}

function contextPorts(ctx: AppContext): ContextPorts {
  const root = ctx.config.root;
  const relCwd = (cwd: string) => {
    const r = relative(root, cwd);
    return r === '' ? '' : r.startsWith('..') || isAbsolute(r) ? cwd : r.split(sep).join('/');
  };
  return {
    async workspace(): Promise<WorkspaceView> {
      const snap = (await ctx.dispatcher.call('workspace.get', {}, internalContext())) as {
        state: { editors: { value: { open: { path: string; openedAt: number }[]; active: string | null }; updatedAt: number }; cursors: Record<string, WorkspaceView['cursors'][number]> };
      };
      const ed = snap.state.editors;
      return { editors: { open: ed.value.open, active: ed.value.active, updatedAt: ed.updatedAt }, cursors: Object.values(snap.state.cursors) };
    },
    presence: () => ctx.shared.presence?.list() ?? [],
    diagnostics: () => ctx.shared.lsp?.allDiagnostics() ?? [],
    async terminals() {
      const r = (await ctx.dispatcher.call('terminal.list', {}, internalContext())) as { terminals: (TerminalView & { cwd: string })[] };
      return r.terminals.map((t) => ({ id: t.id, name: t.name, cwd: relCwd(t.cwd), status: t.status, exitCode: t.exitCode, createdAt: t.createdAt }));
    },
  };
}

/**
 * agents.context and agents.activity (issue 13): what the human is looking at, and what agents did.
 * Every call a connection of kind agent makes is recorded (dispatcher hook, batched SQLite writes),
 * and an agent that reads or writes a file shows in presence there, as a collaborator does.
 */
export const agentsContextModule: AppModule = {
  name: 'agents-context',
  setup(ctx) {
    const store = new DisposableStore();
    const db = store.add(new SqliteAgentActivity(join(ctx.config.root, STATE_DIR_NAME), ctx.config.agents.activityRows));
    const activity: ActivityStore = {
      add: (row) => db.add(row),
      list: (opts) => db.list<ActivityRecord>(opts),
    };
    const onCall = (call: CalledInfo) => {
      if (call.ctx.connection.kind !== 'agent') return;
      const def = call.kind === 'method' ? ctx.registry.get(call.name) : ctx.registry.getOperation(call.name);
      const rec = activityOf(call, def?.paths);
      if (rec) activity.add({ time: rec.time, principalId: rec.principalId, agent: rec.agent, record: rec });
      if (call.error === undefined && PRESENCE_METHODS.has(call.name)) {
        const path = (call.params as { path?: unknown } | null)?.path;
        if (typeof path === 'string') ctx.shared.presence?.touch(call.ctx.connection, path);
      }
    };
    store.add(
      ctx.dispatcher.onDidCall(
        (call) => {
          try {
            onCall(call);
          } catch (err) {
            ctx.logger.warn('agents: activity not recorded', { method: call.name, ...describeError(err) });
          }
        },
        (c) => c.connection.kind === 'agent',
      ),
    );
    store.add(ctx.registry.register(...createAgentsContextMethods(contextPorts(ctx), activity)));
    return store;
  },
};
