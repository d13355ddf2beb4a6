import { ByteBudget } from '../core/byte-budget.js';
import type { Disposable } from '../core/lifecycle.js';
import { McpHttpEndpoint } from '../transports/mcp/index.js';
// Read in setup only (create-app imports the modules list): no load-time cycle.
import { VERSION } from './create-app.js';
import type { AppContext, AppModule } from './modules.js';

/** Where MCP Streamable HTTP lives. */
export const MCP_PATH = '/mcp';

/**
 * MCP (issue 13) at /mcp on the app's Fastify server: tools derived from the registry, workspace
 * files as resources, one session per initialize bound to its principal. Each session is a live
 * connection (ConnectionManager; `transport: 'mcp'`), closed on revocation and on shutdown.
 */
export const mcpModule: AppModule = {
  name: 'mcp',
  setup(ctx: AppContext): Disposable {
    const sec = ctx.wsSecurity;
    const endpoint = new McpHttpEndpoint({
      dispatcher: ctx.dispatcher,
      broker: ctx.broker,
      logger: ctx.logger,
      authenticate: sec.authenticate,
      allowedOrigins: sec.allowedOrigins,
      server: { name: 'icpy', version: VERSION },
      maxSessions: ctx.config.agents.maxMcpSessions,
      maxSessionsPerPrincipal: ctx.config.agents.maxMcpSessionsPerPrincipal,
      idleMs: ctx.config.agents.mcpSessionIdleMs,
      admit: sec.admit,
      readBudget: () =>
        new ByteBudget({ max: ctx.config.limits.maxInflightReadBytesPerConnection, limitName: 'maxInflightReadBytesPerConnection', maxWaiting: 256 }),
      onSession: (info, subscriptions, close) => ctx.connections.open(info, subscriptions, close),
    });
    // The HTTP server checks Host for every route; /mcp is public to its token hook, so that the
    // Origin check comes before the token and the answers are JSON-RPC envelopes.
    ctx.http.route({
      method: ['GET', 'POST', 'DELETE'],
      url: MCP_PATH,
      handler: async (req, reply) => {
        reply.hijack();
        await endpoint.handle(req.raw, reply.raw, typeof req.body === 'string' ? req.body : undefined);
      },
    });
    return endpoint;
  },
};
