import type { Principal } from '../principal.js';
import { hasScope } from '../principal.js';
import type { MethodDefinition } from './method.js';
import type { MethodRegistry } from './method-registry.js';
import { jsonSchemaOf } from './openrpc.js';

/**
 * A method as a tool a model can call (issue 13): derived from the registry, so adding a method
 * adds the tool — MCP (`transports/mcp`) and the agent-framework adapters (`src/agents`) both list
 * tools from here and call them through the one dispatcher.
 */
export interface ToolSpec {
  /** `files_write`: the method name with `.` → `_` (tool-name rules of MCP clients and OpenAI functions). */
  name: string;
  /** The JSON-RPC method it calls. */
  method: string;
  title: string;
  /** The method's description, written for a model, with the scope it needs and a worked example. */
  description: string;
  /** JSON Schema (object) of the params. */
  inputSchema: Record<string, unknown> & { type: 'object' };
  /** JSON Schema of the result. */
  outputSchema: Record<string, unknown>;
  /** MCP tool annotations, from the method's scope (and its own `idempotent`/`destructive` hints). */
  annotations: { readOnlyHint: boolean; destructiveHint: boolean; idempotentHint: boolean; openWorldHint: boolean };
}

/**
 * Methods that need a live socket to make sense (they start a stream to this connection) are not
 * tools; models use their tool-shaped equivalents: `terminal.run` (not attach), `exec.run {wait:
 * true}` (not attach), `events.history` (not subscribe).
 */
const NOT_TOOLS: ReadonlySet<string> = new Set([
  'events.subscribe',
  'events.unsubscribe',
  'events.status',
  'terminal.attach',
  'terminal.detach',
  'terminal.ack',
  'exec.attach',
  'exec.detach',
  'rpc.discover',
]);

export function toolNameOf(method: string): string {
  return method.replace(/\./g, '_');
}

/** Is this method a tool at all (whoever asks)? */
export function isTool(def: MethodDefinition): boolean {
  return !def.requiresSession && !NOT_TOOLS.has(def.name);
}

/** May this principal call the method (scope, and path limits: only methods declaring their paths)? */
export function principalMayCall(def: MethodDefinition, p: Principal): boolean {
  if (def.ownerOnly && p.kind !== 'owner') return false;
  if (!hasScope(p, def.scope)) return false;
  if (p.paths && !def.paths && !def.pathFree) return false;
  return true;
}

const cache = new WeakMap<MethodDefinition, ToolSpec>();

export function toolOf(def: MethodDefinition): ToolSpec {
  let t = cache.get(def);
  if (t) return t;
  const input = jsonSchemaOf(def.params, 'input');
  const readOnly = def.scope === 'read';
  const example = def.examples?.[0];
  const description = [
    def.description,
    `Needs the '${def.scope}' scope.`,
    example ? `Example arguments: ${JSON.stringify(example.params)}` : '',
  ]
    .filter(Boolean)
    .join('\n\n');
  t = {
    name: toolNameOf(def.name),
    method: def.name,
    title: def.name,
    description,
    inputSchema: { ...input, type: 'object' },
    outputSchema: jsonSchemaOf(def.result, 'output'),
    annotations: {
      readOnlyHint: readOnly,
      destructiveHint: !readOnly && (def.destructive ?? true),
      idempotentHint: readOnly || (def.idempotent ?? false),
      openWorldHint: false,
    },
  };
  cache.set(def, t);
  return t;
}

/** The tools this principal may call, in registry order. */
export function toolsFor(registry: MethodRegistry, p: Principal): ToolSpec[] {
  return registry
    .list()
    .filter((d) => isTool(d) && principalMayCall(d, p))
    .map(toolOf);
}

/** The method behind a tool name, when it is a tool. */
export function methodOfTool(registry: MethodRegistry, toolName: string): MethodDefinition | undefined {
  const def = registry.get(toolName.replace(/_/g, '.')) ?? registry.list().find((d) => toolNameOf(d.name) === toolName);
  return def && isTool(def) ? def : undefined;
}
