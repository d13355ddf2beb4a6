import { z } from 'zod';
import type { MethodExample } from './method.js';
import type { MethodRegistry } from './method-registry.js';

/** JSON Schema (draft 2020-12) of a zod schema; `io` picks the input or output side. */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const js = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  delete js.$schema;
  return js;
}

/** The name an example is shown under: its own, else `example<N>` (1-based). */
export function exampleName(ex: MethodExample, index: number): string {
  return ex.name ?? `example${index + 1}`;
}

export interface OpenRpcInfo {
  title: string;
  version: string;
  description?: string;
}

/**
 * OpenRPC 1.3 document of every method (params by name) plus icpy's events under
 * `x-events` (OpenRPC has no notion of server-sent notifications).
 */
export function buildOpenRpc(registry: MethodRegistry, info: OpenRpcInfo): Record<string, unknown> {
  const methods = registry.list().map((m) => {
    const input = jsonSchemaOf(m.params, 'input');
    const props = (input.properties ?? {}) as Record<string, Record<string, unknown>>;
    const required = new Set((input.required ?? []) as string[]);
    return {
      name: m.name,
      summary: m.description.split('\n')[0],
      description: m.description,
      paramStructure: 'by-name',
      params: Object.entries(props).map(([name, schema]) => ({
        name,
        required: required.has(name),
        schema,
        ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
      })),
      result: { name: `${m.name}.result`, schema: jsonSchemaOf(m.result, 'output') },
      'x-scope': m.scope,
      'x-params-schema': input,
      ...(m.requiresSession ? { 'x-requires-session': true } : {}),
      ...(m.examples?.length
        ? {
            examples: m.examples.map((ex, i) => ({
              name: exampleName(ex, i),
              ...(ex.description ? { description: ex.description } : {}),
              params: Object.entries(ex.params as object).map(([name, value]) => ({ name, value })),
              result: { name: `${m.name}.result`, value: ex.result },
            })),
          }
        : {}),
    };
  });
  return {
    openrpc: '1.3.2',
    info,
    methods,
    'x-events': registry.listEvents().map((e) => ({
      topic: e.topic,
      description: e.description,
      schema: jsonSchemaOf(e.data, 'output'),
    })),
  };
}
