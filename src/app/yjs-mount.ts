import type { DocRooms } from '../core/docs.js';
import type { Disposable } from '../core/lifecycle.js';
import { YjsGateway } from '../transports/yjs/index.js';
import type { AppContext } from './modules.js';

/** Where the y-websocket rooms live: `WS /api/yjs/{path}`. */
export const YJS_PREFIX = '/api/yjs/';

/**
 * Serve the documents service's rooms over the y-websocket protocol at /api/yjs/{path}, with the
 * token, Host, Origin and admission rules of /api/ws. Disposing closes every Yjs socket (1001).
 */
export function mountYjs(ctx: AppContext, rooms: DocRooms): Disposable {
  const sec = ctx.wsSecurity;
  const gateway = new YjsGateway({
    rooms,
    logger: ctx.logger,
    prefix: YJS_PREFIX,
    authenticate: sec.authenticate,
    checkPath: (principal, path) => ctx.dispatcher.assertPaths(principal, [{ field: 'path', path }]),
    boundToLoopback: sec.boundToLoopback,
    allowedHosts: sec.allowedHosts,
    allowedOrigins: sec.allowedOrigins,
    session: sec.session,
    admit: sec.admit,
    heartbeatMs: sec.heartbeatMs,
    // A whole document arrives in one update (sync step 2 of a provider that was offline); a
    // document is at most maxDocBytes of text, which Yjs encodes in about as many bytes plus ids.
    maxMessageBytes: Math.max(ctx.config.maxMessageBytes, ctx.config.limits.maxDocBytes * 2),
    maxBufferedBytes: Math.max(64 * 1024 * 1024, ctx.config.limits.maxDocBytes * 4),
    onConnection: (info, close) => ctx.connections.open(info, undefined, close),
  });
  ctx.addUpgrade(YJS_PREFIX, (req, socket, head) => gateway.handleUpgrade(req, socket, head));
  return gateway;
}
