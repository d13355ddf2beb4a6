import type { FastifyInstance } from 'fastify';
import type { Broker } from '../core/broker/index.js';
import type { Disposable } from '../core/lifecycle.js';
import type { Logger } from '../core/logger.js';
import type { Dispatcher, MethodRegistry } from '../core/rpc/index.js';
import type { ConnectionManager } from '../services/connections/index.js';
import type { ExtraPaths } from '../transports/http/index.js';
import type { IcpyConfig } from './config.js';
import { filesModule } from './files-module.js';
import { terminalsModule } from './terminals-module.js';
import { workspaceModule } from './workspace-module.js';

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
  return [terminalsModule, filesModule, workspaceModule];
}
