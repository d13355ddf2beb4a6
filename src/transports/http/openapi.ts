import { exampleName, jsonSchemaOf, type MethodExample, type MethodRegistry } from '../../core/rpc/index.js';

/** The error body of every non-2xx JSON answer (components/schemas/ErrorBody). */
const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'data'],
      properties: {
        code: { type: 'integer', description: 'JSON-RPC error number' },
        message: { type: 'string' },
        data: { type: 'object', properties: { code: { type: 'string', description: 'Stable icpy error string' } } },
      },
    },
  },
};
const errorBody = { $ref: '#/components/schemas/ErrorBody' };

/**
 * Name of a method's params or result under components/schemas: the method name in PascalCase
 * plus `Params`/`Result` (`files.stat` → `FilesStatResult`), a name client generators turn into
 * a type as it is. Other paths (the REST files routes) reference these names.
 */
export function schemaName(method: string, side: 'params' | 'result'): string {
  const base = method
    .split('.')
    .map((seg) => seg.charAt(0).toUpperCase() + seg.slice(1))
    .join('');
  return base + (side === 'params' ? 'Params' : 'Result');
}

export interface ExtraPaths {
  [path: string]: Record<string, unknown>;
}

/**
 * OpenAPI 3.1 document derived from the method registry: each method is also reachable as
 * `POST /api/rpc/{method}` (body = params, response = result), next to the JSON-RPC endpoint,
 * SSE, health, and any extra REST paths a service contributes. Every schema a path uses lives in
 * components/schemas and is referenced as `#/components/schemas/NAME`, never by a path pointer
 * (`#/paths/~1api…`), which client generators do not resolve into types.
 */
export function buildOpenApi(registry: MethodRegistry, info: { title: string; version: string }, extra: ExtraPaths = {}) {
  const paths: Record<string, Record<string, unknown>> = {
    '/api/health': {
      get: {
        operationId: 'health',
        summary: 'Liveness check (no auth)',
        security: [],
        responses: {
          '200': {
            description: 'Server is up',
            content: { 'application/json': { schema: { type: 'object', required: ['status'], properties: { status: { const: 'ok' } } } } },
          },
        },
      },
    },
    '/api/rpc': {
      post: {
        operationId: 'jsonrpc',
        summary: 'JSON-RPC 2.0 endpoint (single call, batch, notifications)',
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                oneOf: [{ $ref: '#/components/schemas/JsonRpcRequest' }, { type: 'array', items: { $ref: '#/components/schemas/JsonRpcRequest' } }],
              },
            },
          },
        },
        responses: {
          '200': { description: 'JSON-RPC response (or array for a batch)', content: { 'application/json': { schema: {} } } },
          '204': { description: 'Only notifications were sent' },
          '401': { description: 'Missing or wrong token', content: { 'application/json': { schema: errorBody } } },
          '413': { description: 'Body larger than the message limit', content: { 'application/json': { schema: errorBody } } },
        },
      },
    },
    '/api/events': {
      get: {
        operationId: 'eventStream',
        summary: 'Server-Sent Events stream of the event log (resume with Last-Event-ID or since)',
        parameters: [
          { name: 'patterns', in: 'query', required: false, schema: { type: 'string' }, description: "Comma-separated topic patterns (default '**')" },
          { name: 'since', in: 'query', required: false, schema: { type: 'integer', minimum: 0 }, description: 'Replay events with seq > since first' },
          { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string' }, description: 'Resume after this seq (EventSource sends it on reconnect)' },
        ],
        responses: {
          '200': { description: 'text/event-stream; each event has id = seq', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          '410': { description: 'since is older than kept history (EVENTS_GAP, data.oldestSeq)', content: { 'application/json': { schema: errorBody } } },
        },
      },
    },
    '/api/openapi.json': {
      get: { operationId: 'openapi', summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1 document', content: { 'application/json': { schema: { type: 'object' } } } } } },
    },
    '/api/docs': {
      get: { operationId: 'docs', summary: 'Browsable API reference', responses: { '200': { description: 'HTML page', content: { 'text/html': { schema: { type: 'string' } } } } } },
    },
    ...extra,
  };

  const schemas: Record<string, unknown> = {
    ErrorBody: errorSchema,
    JsonRpcRequest: {
      type: 'object',
      required: ['jsonrpc', 'method'],
      properties: {
        jsonrpc: { const: '2.0' },
        method: { type: 'string' },
        params: { type: 'object' },
        id: { type: ['string', 'integer', 'null'] },
      },
    },
  };
  const component = (name: string, schema: Record<string, unknown>) => {
    // Two method names can map to one PascalCase name (`a.bC`, `aB.c`); later ones get a suffix.
    let key = name;
    for (let n = 2; Object.hasOwn(schemas, key); n++) key = `${name}${n}`;
    schemas[key] = schema;
    return { $ref: `#/components/schemas/${key}` };
  };

  for (const m of registry.list()) {
    const input = jsonSchemaOf(m.params, 'input');
    const examples = m.examples?.length ? m.examples : undefined;
    const named = (pick: (ex: MethodExample) => unknown) =>
      examples ? { examples: Object.fromEntries(examples.map((ex, i) => [exampleName(ex, i), { ...(ex.description ? { summary: ex.description } : {}), value: pick(ex) }])) } : {};
    paths[`/api/rpc/${m.name}`] = {
      post: {
        operationId: m.name,
        summary: m.description.split('. ')[0],
        description: `${m.description}\n\nScope: \`${m.scope}\`.${m.requiresSession ? ' Needs a WebSocket connection; over HTTP it fails.' : ''}`,
        tags: [m.name.split('.')[0]],
        requestBody: {
          // No body is `{}`: the body is required exactly when `{}` is not valid params.
          required: !m.params.safeParse({}).success,
          content: { 'application/json': { schema: component(schemaName(m.name, 'params'), input), ...named((ex) => ex.params) } },
        },
        responses: {
          '200': {
            description: 'Result',
            content: { 'application/json': { schema: component(schemaName(m.name, 'result'), jsonSchemaOf(m.result, 'output')), ...named((ex) => ex.result) } },
          },
          default: { description: 'Error (status from the error table)', content: { 'application/json': { schema: errorBody } } },
        },
        'x-scope': m.scope,
      },
    };
  }

  return {
    openapi: '3.1.0',
    info: { ...info, description: 'icpy workspace backend. Every method is also available over JSON-RPC at POST /api/rpc and the WebSocket /api/ws.' },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas,
    },
  };
}
