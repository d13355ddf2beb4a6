import { toDisposable } from '../core/lifecycle.js';
import { WorkflowService, agentRunEvents, createAgentRunMethods } from '../agents/index.js';
import type { AppModule } from './modules.js';

/** Agent workflows (agents.run / agents.cancel / agents.workflows) on the configured model endpoint. */
export const agentsModule: AppModule = {
  name: 'agents',
  setup(ctx) {
    const a = ctx.config.agents;
    const service = new WorkflowService({
      root: ctx.config.root,
      registry: ctx.registry,
      dispatcher: ctx.dispatcher,
      broker: ctx.broker,
      logger: ctx.logger,
      endpoint: { baseUrl: a.baseUrl, apiKey: a.apiKey, model: a.model },
      maxConcurrentRuns: a.maxConcurrentRuns,
      maxTurns: a.maxTurns,
      runTimeoutMs: a.runTimeoutMs,
      // A run is a live connection (presence, attribution). Once ConnectionManager.open takes a
      // close callback (credentials slice), a revoked principal's runs are cancelled through it.
      openConnection: (info, _close) => ctx.connections.open(info),
    });
    const methods = ctx.registry.register(...createAgentRunMethods(service));
    const events = ctx.registry.registerEvents(...agentRunEvents);
    return toDisposable(async () => {
      methods.dispose();
      events.dispose();
      await service.dispose();
    });
  },
};
