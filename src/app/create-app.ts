import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { MemoryBroker, type Broker } from '../core/broker/index.js';
import { ByteBudget } from '../core/byte-budget.js';
import { DisposableStore, toDisposable, type Disposable } from '../core/lifecycle.js';
import { describeError, type Logger } from '../core/logger.js';
import { ALL_SCOPES, READ_ONLY_SCOPES, ownerPrincipal, type Authenticator } from '../core/principal.js';
import { Dispatcher, MethodRegistry, createEventVisibility } from '../core/rpc/index.js';
import { createTokenVerifier, isLoopbackHost } from '../core/security.js';
import { PathGuard } from '../services/files/index.js';
import { ConnectionManager, connectionEvents, createConnectionsMethods } from '../services/connections/index.js';
import { createEventsMethods, createEventsOperations, eventsLagged } from '../services/events/index.js';
import { createSystemMethods } from '../services/system/index.js';
import { createHttpServer, httpContextsOf, type ExtraPaths } from '../transports/http/index.js';
import { WsGateway } from '../transports/websocket/index.js';
import { resolveConfig, type IcpyConfig, type IcpyConfigInput } from './config.js';
import { createLogger } from './logger.js';
import { acquireServerLock } from './server-lock.js';
import { SqliteCredentials, ensureStateDir } from '../storage/index.js';
import { CredentialService, authEvents, createAuthMethods } from '../services/auth/index.js';
import { UNAUTHORIZED_CLOSE } from '../transports/ws-upgrade.js';
import { createWebSession } from '../transports/web-session.js';
import { fileURLToPath } from 'node:url';
import { loadModules, type AppContext, type UpgradeHandler } from './modules.js';

export const VERSION: string = (() => {
  try {
    return JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version as string;
  } catch {
    return '0.0.0';
  }
})();

export interface App extends Disposable {
  readonly config: IcpyConfig;
  readonly broker: Broker;
  readonly registry: MethodRegistry;
  readonly dispatcher: Dispatcher;
  readonly connections: ConnectionManager;
  readonly logger: Logger;
  /** Start listening; resolves with the base URL (without token). */
  listen(): Promise<{ url: string; port: number; host: string }>;
  /** Base URL once listening (http://HOST:PORT). */
  readonly url: string;
  /** Dispose everything in reverse order of creation. */
  close(): Promise<void>;
}

export interface CreateAppOptions {
  logger?: Logger;
  /**
   * Tried for a token the server token does not match (tests make path-limited principals with
   * it; agent credentials compose the same way).
   */
  authenticate?: Authenticator;
  /** The built web workspace served at `/` (default: the package's `dist/web/`; tests use their own). */
  webDir?: string;
}

/** `dist/web/` of this package, from `src/app/` (tests, tsx) and from `dist/app/` alike. */
const DEFAULT_WEB_DIR = fileURLToPath(new URL('../../dist/web/', import.meta.url));


/** Reads one server may queue waiting for its budget; one more is LIMIT_EXCEEDED. */
const MAX_WAITING_READS = 4096;

/** The one composition root: builds every service and transport and owns their lifetimes. */
export async function createApp(input: IcpyConfigInput = {}, options: CreateAppOptions = {}): Promise<App> {
  const config = resolveConfig(input);
  const logger = options.logger ?? createLogger(config.logLevel, config.token);
  const store = new DisposableStore();
  // First in, last out: the folder stays locked until every module (and its state) is closed.
  const stateDir = ensureStateDir(config.root);
  const lock = store.add(acquireServerLock(stateDir, config.root));

  const broker = store.add(
    new MemoryBroker({
      historyEvents: config.historyEvents,
      historyBytes: config.historyBytes,
      maxQueue: config.subscriptionQueue,
      limits: config.limits,
      onHandlerError: (err, ev) => logger.error('broker: subscriber threw', { topic: ev.topic, ...describeError(err) }),
    }),
  );
  const registry = new MethodRegistry();
  // Path limits see the real path of every param path (symlinks followed), as the files service would.
  const realPaths = new PathGuard(config.root);
  const dispatcher = new Dispatcher(registry, {
    realPath: (path) =>
      realPaths.resolve(path).then(
        (r) => realPaths.relOfReal(r.real),
        () => undefined,
      ),
    checkResults: config.checkResults,
    maxValueDepth: config.limits.maxValueDepth,
    onInternalError: (err, method) => logger.error('rpc: handler failed', { method, ...describeError(err) }),
  });
  // Disposed before the broker: a connection that closes late in shutdown publishes nothing.
  const connections = store.add(new ConnectionManager(broker, { maxConnections: config.limits.maxConnections }));
  const startedAt = Date.now();
  // Which events a path-limited principal may receive, from the events' declarations (issue 13).
  const eventVisibility = createEventVisibility(registry);

  registry.register(
    ...createSystemMethods(registry, { name: 'icpy', version: VERSION, root: config.root, pid: process.pid, startedAt }),
    ...createEventsMethods(broker, { maxQueue: config.subscriptionQueue, limits: config.limits, visible: eventVisibility }),
    ...createConnectionsMethods(connections),
  );
  registry.registerEvents(eventsLagged, ...connectionEvents);
  registry.registerOperations(...createEventsOperations(broker, { maxQueue: config.subscriptionQueue, visible: eventVisibility }));

  const verifyToken = createTokenVerifier(config.token);
  const ownerScopes = config.readOnly ? READ_ONLY_SCOPES : ALL_SCOPES;
  const owner = ownerPrincipal(ownerScopes);
  // Agent credentials (<root>/.icpy/credentials.db); one that is revoked or expires has its open
  // connections closed at once (4401), every transport's alike, and its in-flight HTTP calls aborted.
  let abortHttpCalls: ((principalId: string, reason: string) => void) | undefined;
  const credentials = store.add(
    new CredentialService({
      store: store.add(new SqliteCredentials(stateDir)),
      broker,
      ceiling: ownerScopes,
      onEnd: (principalId, why) => {
        const reason = why === 'expired' ? 'Credential expired' : 'Credential revoked';
        connections.closePrincipal(principalId, UNAUTHORIZED_CLOSE, reason);
        abortHttpCalls?.(principalId, reason);
      },
    }),
  );
  registry.register(...createAuthMethods(credentials));
  registry.registerEvents(...authEvents);
  // The server token is the owner; else an agent credential, else the caller's extra
  // authenticator (tests); else nobody (401 / 4401).
  const extraAuth = options.authenticate;
  const authenticate: Authenticator = (token) => (verifyToken(token) ? owner : (credentials.authenticate(token) ?? extraAuth?.(token)));
  const boundToLoopback = isLoopbackHost(config.host);
  // The owner's browser session (web workspace): a cookie derived from the server token.
  const session = createWebSession(config.token, owner);
  // One server-wide budget of file bytes being read; each connection has its own within it.
  const readBudgets = {
    perConnection: config.limits.maxInflightReadBytesPerConnection,
    server: new ByteBudget({ max: config.limits.maxInflightReadBytes, limitName: 'maxInflightReadBytes', maxWaiting: MAX_WAITING_READS }),
  };
  const common = {
    dispatcher,
    logger,
    authenticate,
    readBudgets,
    boundToLoopback,
    allowedHosts: config.allowedHosts,
    maxMessageBytes: config.maxMessageBytes,
    highWaterBytes: config.highWaterBytes,
    rpc: {
      maxBatchLength: config.limits.maxBatchLength,
      batchConcurrency: config.limits.batchConcurrency,
      maxReplyBytes: config.limits.maxReplyBytes,
      onInternalError: (err: unknown, method: string) => logger.error('rpc: reply could not be encoded', { method, ...describeError(err) }),
    },
    admit: () => connections.admissionError(),
    allowedOrigins: config.allowedOrigins,
    session,
  };

  const ws = new WsGateway({
    ...common,
    hardMaxMessageBytes: Math.max(config.maxMessageBytes * 2, config.maxMessageBytes + 1024 * 1024),
    heartbeatMs: config.heartbeatMs,
    onConnection: (info, session) => connections.open(info, () => session.handles.size, (code, reason) => session.close(code, reason)),
  });
  const openApiExtra: ExtraPaths = {};
  const http = createHttpServer({
    ...common,
    broker,
    sseKeepaliveMs: config.sseKeepaliveMs,
    info: { title: 'icpy', version: VERSION },
    onConnection: (info, close) => connections.open(info, undefined, close),
    extraOpenApiPaths: () => openApiExtra,
    logRequests: logger.enabled?.('debug') ?? true,
    // /mcp checks Origin before the token and answers in JSON-RPC envelopes (app/mcp-mount.ts).
    publicPaths: ['/mcp'],
    webDir: options.webDir ?? DEFAULT_WEB_DIR,
  });
  abortHttpCalls = (principalId, reason) => httpContextsOf(http).abortPrincipal(principalId, reason);
  const upgrades: [prefix: string, handler: UpgradeHandler][] = [];
  http.server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '').split('?')[0]!;
    if (path === '/api/ws') return ws.handleUpgrade(req, socket, head);
    const route = upgrades.find(([prefix]) => path.startsWith(prefix));
    if (route) return route[1](req, socket, head);
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  // Shutdown order (reverse of adds): WebSockets first, then HTTP, then the broker.
  store.add(toDisposable(() => http.close()));
  store.add(ws);

  // What both the modules and the app's callers see.
  const core = { config, broker, registry, dispatcher, connections, logger };
  // Domain modules start after the gateway exists and stop before it closes.
  const ctx: AppContext = {
    ...core,
    http,
    addOpenApiPaths: (paths) => Object.assign(openApiExtra, paths),
    addUpgrade: (prefix, handler) => void upgrades.push([prefix, handler]),
    wsSecurity: {
      authenticate,
      boundToLoopback,
      allowedHosts: config.allowedHosts,
      allowedOrigins: config.allowedOrigins,
      session,
      admit: common.admit,
      heartbeatMs: config.heartbeatMs,
      ownerScopes,
    },
    shared: {},
  };
  try {
    for (const mod of loadModules()) store.add(await mod.setup(ctx));
  } catch (err) {
    await store.dispose();
    throw err;
  }

  let url = '';
  let closed = false;
  const app: App = {
    ...core,
    get url() {
      return url;
    },
    async listen() {
      await http.listen({ host: config.host, port: config.port });
      const addr = http.server.address() as AddressInfo;
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      url = `http://${host}:${addr.port}`;
      lock.setUrl(url);
      logger.info('listening', { url, root: config.root });
      return { url, port: addr.port, host };
    },
    async close() {
      if (closed) return;
      closed = true;
      await store.dispose();
    },
    dispose() {
      return app.close();
    },
  };
  return app;
}
