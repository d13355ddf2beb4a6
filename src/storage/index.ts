export { SqliteStateStore, type StoredRecord } from './sqlite-state-store.js';
export { STATE_DIR_NAME, ensureSelfIgnoringDir, ensureStateDir } from './state-dir.js';
export { SqliteExecHistory } from './sqlite-exec-history.js';
export { SqliteDocHistory, type StoredVersion, type NewVersion, type Retention } from './sqlite-doc-history.js';
export { SqliteCredentials, type StoredCredential } from './sqlite-credentials.js';
