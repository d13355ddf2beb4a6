import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { Broker, BrokerEvent, Subscription } from '../../core/broker/index.js';
import { IcpyError, toWireError } from '../../core/errors.js';
import { describeError, type Logger } from '../../core/logger.js';
import type { Principal } from '../../core/principal.js';
import type { ConnectionInfo, Dispatcher, MethodContext, ReadBudget } from '../../core/rpc/index.js';
import { methodOfTool, principalMayCall, toolOf, toolsFor } from '../../core/rpc/tools.js';
import { DEFAULT_RESOURCE_LIMITS, SessionResources, pathOfUri, uriOf, type ResourceLimits } from './mcp-resources.js';
import { mcpToolOf, toolError, toolResult } from './mcp-tools.js';

export interface McpSessionOptions {
  dispatcher: Dispatcher;
  broker: Broker;
  logger: Logger;
  principal: Principal;
  connection: ConnectionInfo;
  server: { name: string; version: string };
  readBudget?: ReadBudget;
  resources?: Partial<ResourceLimits>;
  /** resources/subscribe per session; one more is refused (LIMIT_EXCEEDED). */
  maxSubscriptions?: number;
  /** Debounce of notifications/resources/list_changed after files appear, go or move. */
  listChangedMs?: number;
}

const FS_TREE_TOPICS = ['fs.file.created', 'fs.file.deleted', 'fs.dir.created', 'fs.dir.deleted'];
const UPDATE_TOPICS = ['fs.file.changed', 'fs.file.created', 'fs.file.deleted', 'docs.changed'];

/**
 * One MCP session: an SDK `Server` whose tools are the registry's (`toolsFor` this principal) and
 * whose resources are workspace files. Every tool call and resource read goes through
 * `dispatcher.call` with this session's principal and connection, so scopes, path limits and
 * attribution are those of every other transport. Transport-independent: the HTTP endpoint
 * connects it to a `StreamableHTTPServerTransport`.
 */
export class McpSession {
  readonly server: Server;
  private readonly resources: SessionResources;
  private readonly subscribed = new Set<string>();
  private updates: Subscription | undefined;
  private readonly tree: Subscription | undefined;
  private listTimer: NodeJS.Timeout | undefined;
  private initialized = false;
  private lastToolsVersion: number;
  private disposed = false;

  constructor(private readonly opts: McpSessionOptions) {
    this.lastToolsVersion = opts.dispatcher.registry.version;
    this.server = new Server(
      { name: opts.server.name, version: opts.server.version, title: 'icpy workspace' },
      {
        capabilities: { tools: { listChanged: true }, resources: { subscribe: true, listChanged: true } },
        instructions:
          'Tools act on a live icpy workspace that humans are watching: file paths are relative to the workspace root; edits appear in open editors and commands in visible terminals, attributed to you. Resources are the workspace files as file:///<path relative to the root>.',
      },
    );
    this.server.oninitialized = () => {
      this.initialized = true;
    };
    this.resources = new SessionResources((method, params, signal) => this.call(method, params, signal), { ...DEFAULT_RESOURCE_LIMITS, ...opts.resources });
    this.installHandlers();
    this.tree = this.mayRead() ? opts.broker.subscribe(FS_TREE_TOPICS, (ev) => this.onTreeEvent(ev)) : undefined;
  }

  get principal(): Principal {
    return this.opts.principal;
  }

  get connection(): ConnectionInfo {
    return this.opts.connection;
  }

  /** Call a method as this session (the one path every tool and resource takes). */
  call(method: string, params: unknown, signal?: AbortSignal): Promise<unknown> {
    const ctx: MethodContext = { connection: this.opts.connection, principal: this.opts.principal, signal, readBudget: this.opts.readBudget };
    return this.opts.dispatcher.call(method, params, ctx);
  }

  /** Tell the client its tool list changed, when the registry did since last time. */
  checkToolsChanged(): void {
    const v = this.opts.dispatcher.registry.version;
    if (v === this.lastToolsVersion || !this.initialized || this.disposed) return;
    this.lastToolsVersion = v;
    this.server.sendToolListChanged().catch(() => undefined);
  }

  private mayRead(): boolean {
    const def = this.opts.dispatcher.registry.get('files.list');
    return !!def && principalMayCall(def, this.opts.principal);
  }

  private installHandlers(): void {
    const { server } = this;
    server.setRequestHandler(ListToolsRequestSchema, async () => {
      this.lastToolsVersion = this.opts.dispatcher.registry.version;
      return { tools: toolsFor(this.opts.dispatcher.registry, this.opts.principal).map(mcpToolOf) };
    });
    server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
      const def = methodOfTool(this.opts.dispatcher.registry, req.params.name);
      if (!def) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${req.params.name} (tools/list names the tools)`);
      const spec = toolOf(def);
      try {
        return toolResult(spec, await this.call(def.name, req.params.arguments ?? {}, extra.signal));
      } catch (err) {
        if (!(err instanceof IcpyError)) this.opts.logger.error('mcp: tool failed', { tool: spec.name, ...describeError(err) });
        return toolError(def.name, err);
      }
    });
    server.setRequestHandler(ListResourcesRequestSchema, (req, extra) => asMcp(() => this.resources.list(req.params?.cursor, extra.signal)));
    server.setRequestHandler(ReadResourceRequestSchema, (req, extra) => asMcp(() => this.resources.read(req.params.uri, extra.signal)));
    server.setRequestHandler(SubscribeRequestSchema, (req, extra) => asMcp(() => this.subscribe(req.params.uri, extra.signal)));
    server.setRequestHandler(UnsubscribeRequestSchema, async (req) => {
      this.subscribed.delete(normalize(pathOfUri(req.params.uri)));
      if (this.subscribed.size === 0) {
        this.updates?.dispose();
        this.updates = undefined;
      }
      return {};
    });
  }

  private async subscribe(uri: string, signal?: AbortSignal): Promise<Record<string, never>> {
    const path = pathOfUri(uri);
    const max = this.opts.maxSubscriptions ?? 256;
    if (!this.subscribed.has(path) && this.subscribed.size >= max) {
      throw new IcpyError('LIMIT_EXCEEDED', `This MCP session already watches ${max} resources (the maximum); unsubscribe from some first`, {
        limit: 'mcpResourceSubscriptions',
        max,
      });
    }
    // May this principal read it? (files.stat applies the path limits; a missing file may be watched.)
    try {
      await this.call('files.stat', { path }, signal);
    } catch (err) {
      if (!(err instanceof IcpyError && err.code === 'FILE_NOT_FOUND')) throw err;
    }
    this.subscribed.add(normalize(path));
    this.updates ??= this.opts.broker.subscribe(UPDATE_TOPICS, (ev) => this.onUpdateEvent(ev));
    return {};
  }

  private onUpdateEvent(ev: BrokerEvent): void {
    if (!this.initialized || this.disposed) return;
    for (const p of pathsOf(ev.data)) {
      if (this.subscribed.has(p)) this.server.sendResourceUpdated({ uri: uriOf(p) }).catch(() => undefined);
    }
  }

  private onTreeEvent(ev: BrokerEvent): void {
    if (!this.initialized || this.disposed || this.listTimer) return;
    const rule = this.opts.principal.paths;
    if (rule && !pathsOf(ev.data).some((p) => rule.allows(p))) return;
    this.listTimer = setTimeout(() => {
      this.listTimer = undefined;
      if (!this.disposed) this.server.sendResourceListChanged().catch(() => undefined);
    }, this.opts.listChangedMs ?? 250);
    this.listTimer.unref();
  }

  async close(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    clearTimeout(this.listTimer);
    this.tree?.dispose();
    this.updates?.dispose();
    this.resources.dispose();
    await this.server.close().catch(() => undefined);
  }
}

function normalize(p: string): string {
  return p.replace(/^\.\/+/, '').replace(/\/+$/, '');
}

function pathsOf(data: unknown): string[] {
  const d = data as { paths?: unknown; path?: unknown } | undefined;
  if (Array.isArray(d?.paths)) return d.paths.filter((p): p is string => typeof p === 'string');
  return typeof d?.path === 'string' ? [d.path] : [];
}

/** An IcpyError from a resource request becomes the JSON-RPC error of its code (not -32603). */
async function asMcp<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof IcpyError) {
      const wire = toWireError(err);
      throw new McpError(wire.code, wire.message, wire.data);
    }
    throw err;
  }
}
