export { defineMethod, defineEvent, defineOperation, sourceOf, whenReplied, SCOPES } from './method.js';
export type {
  ConnectionInfo,
  EventDefinition,
  MethodContext,
  MethodDefinition,
  MethodExample,
  OperationDefinition,
  ReadBudget,
  Scope,
  Session,
  TransportKind,
} from './method.js';
export { MethodRegistry } from './method-registry.js';
export { createEventVisibility, filtersEvents, narrowPaths, type EventVisibility, type FilterableEvent } from './event-filter.js';
export { Dispatcher, type CalledInfo, type DispatcherOptions } from './dispatcher.js';
export {
  handleJsonRpc,
  handleJsonRpcText,
  encodeNotification,
  encodeResult,
  encodedLength,
  errorResponse,
  type EncodedJson,
  type JsonRpcId,
  type JsonRpcOptions,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from './jsonrpc.js';
export { buildOpenRpc, exampleName, jsonSchemaOf, type OpenRpcInfo } from './openrpc.js';
export { invalidParams, formatPath } from './validation.js';
export { withStringSource } from './large-json.js';
export { isTool, methodOfTool, principalMayCall, toolNameOf, toolOf, toolsFor, type ToolSpec } from './tools.js';
