export { ConnectionManager, type ConnectionSummary, type CloseConnection } from './connection-manager.js';
export { createConnectionsMethods, connectionSchema } from './connections.methods.js';
export { connectionEvents } from './connections.events.js';
