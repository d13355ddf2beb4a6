import { jsonSchemaOf, type MethodRegistry } from '../../core/rpc/index.js';

const errorBody = {
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

export interface ExtraPaths {
  [path: string]: Record<string, unknown>;
}

/**
 * OpenAPI 3.1 document derived from the method registry: each method is also reachable as
 * `POST /api/rpc/{method}` (body = params, response = result), next to the JSON-RPC endpoint,
 * SSE, health, and any extra REST paths a service contributes.
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

  for (const m of registry.list()) {
    paths[`/api/rpc/${m.name}`] = {
      post: {
        operationId: m.name,
        summary: m.description.split('. ')[0],
        description: `${m.description}\n\nScope: \`${m.scope}\`.${m.requiresSession ? ' Needs a WebSocket connection; over HTTP it fails.' : ''}`,
        tags: [m.name.split('.')[0]],
        requestBody: { required: false, content: { 'application/json': { schema: jsonSchemaOf(m.params, 'input') } } },
        responses: {
          '200': { description: 'Result', content: { 'application/json': { schema: jsonSchemaOf(m.result, 'output') } } },
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
      schemas: {
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
      },
    },
  };
}
