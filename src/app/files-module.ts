import { FileSearch, FileService, FileWatcher, createFilesMethods, createFilesOperations, filesEvents } from '../services/files/index.js';
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

/** files.* methods, fs.* events from the native watcher, and /api/files/{path} REST. */
export const filesModule: AppModule = {
  name: 'files',
  async setup(ctx) {
    const store = new DisposableStore();
    let watcher: FileWatcher | undefined;
    const files = new FileService(ctx.config.root, {
      onLocalChange: (paths, source) => watcher?.noteLocalChange(paths, source),
    });
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
      const search = new FileSearch(files.guard.realRoot, files.ignores);
      store.add(ctx.registry.register(...createFilesMethods(files, search)));
      store.add(ctx.registry.registerEvents(...filesEvents));
      store.add(ctx.registry.registerOperations(...createFilesOperations(files)));
      ctx.addOpenApiPaths(registerFilesRoutes(ctx.http, ctx.dispatcher).openApi);
    } catch (err) {
      await watcher.dispose();
      await store.dispose();
      throw err;
    }
    return store;
  },
};
