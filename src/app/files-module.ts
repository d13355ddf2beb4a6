import { FileSearch, FileService, FileWatcher, createFilesMethods, createFilesOperations, filesEvents, type LocalChange } from '../services/files/index.js';
import { DisposableStore } from '../core/lifecycle.js';
import { describeError } from '../core/logger.js';
import { registerFilesRoutes } from '../transports/http/files-routes.js';
import type { AppModule } from './modules.js';

/** Extra watcher ignore globs (relative to the root), comma-separated. */
function watchIgnoreFromEnv(): string[] {
  return (process.env.ICPY_WATCH_IGNORE ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** One event per topic, paths sorted, as the watcher publishes them. */
function groupChanges(changes: LocalChange[]): { topic: string; paths: string[] }[] {
  const byTopic = new Map<string, string[]>();
  for (const c of changes) {
    const list = byTopic.get(c.topic);
    if (list) list.push(c.rel);
    else byTopic.set(c.topic, [c.rel]);
  }
  return [...byTopic].map(([topic, paths]) => ({ topic, paths: paths.sort() }));
}

/** files.* methods, fs.* events from the native watcher, and /api/files/{path} REST. */
export const filesModule: AppModule = {
  name: 'files',
  async setup(ctx) {
    const store = new DisposableStore();
    let watcher: FileWatcher | undefined;
    // icpy's own changes are published by the files service as it makes them, with the caller as
    // source (before the reply); the watcher only drops its native reports of them.
    const files = new FileService(ctx.config.root, {
      changes: {
        begin: (paths) => watcher?.begin(paths) ?? (() => undefined),
        made: (changes, source) => {
          watcher?.made(changes);
          for (const batch of groupChanges(changes)) ctx.broker.publish(batch.topic, { paths: batch.paths }, source);
        },
      },
    });
    store.add({ dispose: () => files.dispose() });
    watcher = new FileWatcher({
      root: files.guard.realRoot,
      ignore: watchIgnoreFromEnv(),
      publish: (b) => ctx.broker.publish(b.topic, { paths: b.paths }, b.source),
      logger: ctx.logger,
    });
    try {
      try {
        await watcher.start();
        store.add(watcher);
      } catch (err) {
        // Files still work without change events (e.g. the inotify watch limit was reached).
        ctx.logger.warn('files: watcher did not start; fs.* events are off', describeError(err));
        await watcher.dispose();
      }
      const search = new FileSearch(files.guard.realRoot, files.ignores, ctx.config.searchEngine === 'builtin' ? null : undefined, undefined, ctx.config.limits.maxConcurrentSearches);
      store.add(ctx.registry.register(...createFilesMethods(files, search)));
      store.add(ctx.registry.registerEvents(...filesEvents));
      store.add(ctx.registry.registerOperations(...createFilesOperations(files)));
      ctx.addOpenApiPaths(registerFilesRoutes(ctx.http, ctx.dispatcher).openApi);
      ctx.shared.files = files;
    } catch (err) {
      await watcher.dispose();
      await store.dispose();
      throw err;
    }
    return store;
  },
};
