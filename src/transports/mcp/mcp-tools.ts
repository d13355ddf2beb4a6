import { IcpyError, toWireError } from '../../core/errors.js';
import type { ToolSpec } from '../../core/rpc/tools.js';

/** An MCP `Tool` as listed by `tools/list`. */
export interface McpTool {
  name: string;
  title: string;
  description: string;
  inputSchema: ToolSpec['inputSchema'];
  outputSchema: Record<string, unknown> & { type: 'object' };
  annotations: ToolSpec['annotations'] & { title: string };
}

const cache = new WeakMap<ToolSpec, McpTool>();

/**
 * MCP requires `outputSchema` to describe an object and `structuredContent` to be one: a method
 * whose result is no object (an array, a string, null) is given as `{result: …}`, and its
 * outputSchema says so.
 */
export function mcpToolOf(spec: ToolSpec): McpTool {
  let t = cache.get(spec);
  if (t) return t;
  const out = spec.outputSchema;
  const wraps = !isObjectSchema(out);
  t = {
    name: spec.name,
    title: spec.title,
    description: wraps ? `${spec.description}\n\nThe result is given as {"result": …}.` : spec.description,
    inputSchema: spec.inputSchema,
    outputSchema: wraps ? { type: 'object', properties: { result: out }, required: ['result'] } : (out as McpTool['outputSchema']),
    annotations: { ...spec.annotations, title: spec.title },
  };
  cache.set(spec, t);
  return t;
}

function isObjectSchema(s: Record<string, unknown>): boolean {
  return s.type === 'object';
}

/** The `tools/call` result of a method's result. */
export function toolResult(spec: ToolSpec, result: unknown): { content: { type: 'text'; text: string }[]; structuredContent: Record<string, unknown> } {
  const structured = isObjectSchema(spec.outputSchema) ? (result as Record<string, unknown>) : { result };
  return { content: [{ type: 'text', text: JSON.stringify(result) }], structuredContent: structured };
}

/**
 * A failed call as a tool result a model can read (`isError: true`): what failed, its code, and
 * the data that says why (a FORBIDDEN's reason and what is allowed, a conflict's current version).
 * Our own bugs say only "internal error" (the dispatcher logged them).
 */
export function toolError(method: string, err: unknown): { content: { type: 'text'; text: string }[]; isError: true } {
  const wire = toWireError(err);
  const code = err instanceof IcpyError ? err.code : 'INTERNAL_ERROR';
  const lines = [`${method} failed: ${code} (${wire.code}): ${wire.message}`];
  if (wire.data !== undefined) lines.push(`data: ${JSON.stringify(wire.data)}`);
  return { content: [{ type: 'text', text: lines.join('\n') }], isError: true };
}
