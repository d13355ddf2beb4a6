export { McpHttpEndpoint, type McpHttpOptions } from './mcp-http.js';
export { McpSession, type McpSessionOptions } from './mcp-session.js';
export { uriOf, pathOfUri } from './mcp-resources.js';
