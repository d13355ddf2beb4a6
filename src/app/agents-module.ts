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
      // A run is a live connection (presence, attribution); closing it from the server's side
      // (a revoked or expired credential) cancels the run.
      openConnection: (info, close) => ctx.connections.open(info, () => 0, (_code, reason) => close(reason)),
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
