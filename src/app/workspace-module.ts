import { join } from 'node:path';
import { DisposableStore } from '../core/lifecycle.js';
import { WorkspaceState, createWorkspaceMethods, workspaceEvents } from '../services/workspace/index.js';
import { SqliteStateStore } from '../storage/index.js';
import type { AppModule } from './modules.js';

/** workspace.* state, persisted in <root>/.icpy/state.db. */
export const workspaceModule: AppModule = {
  name: 'workspace',
  setup(ctx) {
    const store = new DisposableStore();
    const db = store.add(new SqliteStateStore(join(ctx.config.root, '.icpy'), 'workspace'));
    const state = store.add(new WorkspaceState(ctx.config.root, db, ctx.broker));
    store.add(ctx.registry.register(...createWorkspaceMethods(state)));
    store.add(ctx.registry.registerEvents(...workspaceEvents));
    return store;
  },
};
