export { WorkspaceState, MERGE_POLICY, type StateRecord, type WorkspaceStore, type Editors, type OpenEditor, type Cursor, type Layout } from './workspace-state.js';
export { createWorkspaceMethods } from './workspace.methods.js';
export { workspaceEvents } from './workspace.events.js';
