export { SqliteStateStore, type StoredRecord } from './sqlite-state-store.js';
