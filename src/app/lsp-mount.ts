import { toDisposable, type Disposable } from '../core/lifecycle.js';
import type { DocService } from '../services/docs/index.js';
import { RawLspHosts, type RawServer } from '../services/lsp/index.js';
import { LspGateway } from '../transports/lsp/index.js';
import type { AppContext } from './modules.js';

/** Where raw LSP lives: `WS /api/lsp/{languageId}`. */
export const LSP_PREFIX = '/api/lsp/';

export interface RawLspSources {
  /** The shared server of a language, started on demand (the LspService's). */
  serverFor(languageId: string): RawServer | Promise<RawServer>;
  /** The last diagnostics a server published for a workspace path. */
  diagnosticsOf?(path: string): { version?: number; diagnostics: unknown[] } | undefined;
  /** Workspace path ⇄ the `file:` URI servers know it by (the language service's). */
  pathOf(uri: string): string | undefined;
  uriOf(path: string): string;
}

/**
 * Serve raw LSP at /api/lsp/{languageId} with the token, Host, Origin and admission rules of
 * /api/ws: each client is multiplexed onto the shared server of its language, and its document
 * notifications go into the live documents. Disposing closes every raw LSP socket (1001).
 */
export function mountLspRaw(ctx: AppContext, docs: DocService, sources: RawLspSources): Disposable {
  const sec = ctx.wsSecurity;
  const hosts = new RawLspHosts({
    serverFor: (id) => sources.serverFor(id),
    diagnosticsOf: sources.diagnosticsOf ? (p) => sources.diagnosticsOf!(p) : undefined,
    docs: {
      open: async (path, holder) => {
        const live = await docs.open(path, holder);
        return {
          text: live.text.toString(),
          version: live.version,
          live: {
            text: () => live.text.toString(),
            version: () => live.version,
            onChange(cb) {
              // After LiveDoc's own observer (registered first), so live.version is the new one.
              const h = (): void => cb();
              live.text.observe(h);
              return toDisposable(() => live.text.unobserve(h));
            },
          },
        };
      },
      release: (path, holderId) => docs.release(path, holderId),
      replaceText: (path, text, source) => docs.replaceText(path, text, source),
      applyEdits: (path, edits, opts) => docs.applyEdits(path, edits, opts),
    },
    pathOf: (uri) => sources.pathOf(uri),
    uriOf: (path) => sources.uriOf(path),
    maxInflight: ctx.config.lsp.maxInflightPerClient,
    logger: ctx.logger,
  });
  const gateway = new LspGateway({
    hosts,
    logger: ctx.logger,
    prefix: LSP_PREFIX,
    authenticate: sec.authenticate,
    boundToLoopback: sec.boundToLoopback,
    allowedHosts: sec.allowedHosts,
    allowedOrigins: sec.allowedOrigins,
    session: sec.session,
    admit: sec.admit,
    heartbeatMs: sec.heartbeatMs,
    // A didOpen carries a whole document as a JSON string (escapes can double it).
    maxMessageBytes: Math.max(ctx.config.maxMessageBytes, ctx.config.limits.maxDocBytes * 2 + 64 * 1024),
    maxBufferedBytes: Math.max(64 * 1024 * 1024, ctx.config.limits.maxDocBytes * 4),
    onConnection: (info, close) => ctx.connections.open(info, undefined, close),
  });
  ctx.addUpgrade(LSP_PREFIX, (req, socket, head) => gateway.handleUpgrade(req, socket, head));
  return gateway;
}
