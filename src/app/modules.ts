import type { FastifyInstance } from 'fastify';
import type { Broker } from '../core/broker/index.js';
import type { Disposable } from '../core/lifecycle.js';
import type { Logger } from '../core/logger.js';
import type { IcpyError } from '../core/errors.js';
import type { Authenticator } from '../core/principal.js';
import type { Dispatcher, MethodRegistry, Scope } from '../core/rpc/index.js';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ConnectionManager } from '../services/connections/index.js';
import type { DocService, PresenceService } from '../services/docs/index.js';
import type { FileService } from '../services/files/index.js';
import type { LspService } from '../services/lsp/index.js';
import type { ExtraPaths } from '../transports/http/index.js';
import type { WebSession } from '../transports/web-session.js';
import type { IcpyConfig } from './config.js';
import { agentsModule } from './agents-module.js';
import { docsModule } from './docs-module.js';
import { execModule } from './exec-module.js';
import { filesModule } from './files-module.js';
import { lspModule } from './lsp-module.js';
import { mcpModule } from './mcp-mount.js';
import { terminalsModule } from './terminals-module.js';
import { workspaceModule } from './workspace-module.js';
import { agentsContextModule } from './agents-context-module.js';

/** What a domain module gets when the app wires it. */
export interface AppContext {
  config: IcpyConfig;
  broker: Broker;
  registry: MethodRegistry;
  dispatcher: Dispatcher;
  connections: ConnectionManager;
  logger: Logger;
  /** The Fastify instance, for REST routes that do not fit JSON-RPC (streams). */
  http: FastifyInstance;
  /** Document extra REST paths in /api/openapi.json. */
  addOpenApiPaths(paths: ExtraPaths): void;
  /** Route WebSocket upgrades whose path starts with `prefix` (e.g. '/api/yjs/') to `handler`. */
  addUpgrade(prefix: string, handler: UpgradeHandler): void;
  /** Security options every WebSocket endpoint shares with /api/ws (token, Host, Origin, admission). */
  wsSecurity: WsSecurity;
  /** Services one module makes and a later one uses (filesModule sets `files`, docsModule `docs` and `presence`, lspModule `lsp`). */
  shared: { files?: FileService; docs?: DocService; presence?: PresenceService; lsp?: LspService };
}

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface WsSecurity {
  authenticate: Authenticator;
  boundToLoopback: boolean;
  allowedHosts: readonly string[];
  allowedOrigins: readonly string[];
  /** The owner's browser session cookie (web workspace), accepted on upgrades without a token. */
  session: WebSession;
  /** LIMIT_EXCEEDED when maxConnections is reached (refuse the upgrade with its HTTP status). */
  admit: () => IcpyError | undefined;
  heartbeatMs: number;
  /** What the server token grants (all scopes, or read only with --read-only). */
  ownerScopes: ReadonlySet<Scope>;
}

/**
 * A domain (files, workspace, terminals, …) plugged into the app: registers its methods and
 * events, starts what it needs, and returns a disposable that stops it. Modules start in list
 * order and are disposed in reverse.
 */
export interface AppModule {
  name: string;
  setup(ctx: AppContext): Disposable | Promise<Disposable>;
}

/** Every domain module, in start order (disposed in reverse). */
export function loadModules(): AppModule[] {
  return [terminalsModule, execModule, filesModule, docsModule, lspModule, workspaceModule, agentsContextModule, agentsModule, mcpModule];
}
