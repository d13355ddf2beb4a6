import { join } from 'node:path';
import { DisposableStore, type Disposable } from '../core/lifecycle.js';
import { DocHistory, type HistoryDocs } from '../services/docs/history.js';
import { createHistoryMethods } from '../services/docs/history.methods.js';
import { SqliteDocHistory, STATE_DIR_NAME } from '../storage/index.js';
import type { AppContext } from './modules.js';

/**
 * Version history of live documents: `<root>/.icpy/history.db` and the docs.history / version /
 * diff / restore / checkpoint methods. Called by the docs module with its DocService.
 *
 * Add the returned disposable to the module's store BEFORE the DocService: stores dispose in
 * reverse, so the DocService's last saves at shutdown are still recorded, then history waits for
 * its recordings and closes the database.
 */
export function setupDocHistory(ctx: AppContext, docs: HistoryDocs): Disposable {
  const files = ctx.shared.files;
  if (!files) throw new Error('docs history: the files module must start first');
  const store = new DisposableStore();
  const db = store.add(new SqliteDocHistory(join(ctx.config.root, STATE_DIR_NAME)));
  const history = store.add(
    new DocHistory(db, docs, {
      retention: { maxVersions: ctx.config.docs.historyMaxVersions, maxBytes: ctx.config.docs.historyMaxBytes },
      normalizePath: (p) => files.guard.lexical(p).rel,
      logger: ctx.logger,
      maxDiffBytes: ctx.config.limits.maxReplyBytes,
    }),
  );
  store.add(ctx.registry.register(...createHistoryMethods(history)));
  return store;
}
