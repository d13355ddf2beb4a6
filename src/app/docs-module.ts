import { IcpyError } from '../core/errors.js';
import { DisposableStore, toDisposable } from '../core/lifecycle.js';
import { DocService, PresenceService, createDocsMethods, createPresenceMethods, docsEvents, presenceEvents, type DocFiles } from '../services/docs/index.js';
import type { FileService } from '../services/files/index.js';
import { setupDocHistory } from './docs-history.js';
import type { AppModule } from './modules.js';
import { mountYjs } from './yjs-mount.js';

/** The DocFiles port over the FileService: reads refuse non-text and oversized files; writes are atomic, attributed, version-checked. */
export function fileServiceDocFiles(files: FileService, maxDocBytes: number): DocFiles {
  return {
    async readText(path) {
      const st = await files.stat(path);
      if (st.type === 'dir') throw new IcpyError('IS_A_DIRECTORY', `'${path}' is a folder`, { path });
      if (st.type !== 'file') throw new IcpyError('NOT_A_FILE', `'${path}' is not a regular file`, { path });
      if (st.size > maxDocBytes) {
        throw new IcpyError('FILE_TOO_LARGE', `'${path}' has ${st.size} bytes, more than a live document may hold (maxDocBytes = ${maxDocBytes})`, { path, size: st.size, limit: 'maxDocBytes', max: maxDocBytes });
      }
      const r = await files.read(path, { encoding: 'auto' });
      if (r.encoding !== 'utf8') throw new IcpyError('NOT_TEXT', `'${path}' is not UTF-8 text (binary or invalid UTF-8), so it cannot be edited as a live document`, { path });
      if (r.size > maxDocBytes) throw new IcpyError('FILE_TOO_LARGE', `'${path}' has ${r.size} bytes, more than maxDocBytes (${maxDocBytes})`, { path, size: r.size, limit: 'maxDocBytes', max: maxDocBytes });
      return { path: r.path, text: r.content, version: r.version };
    },
    async writeText(path, text, opts) {
      const r = await files.write(path, Buffer.from(text, 'utf8'), { expectedVersion: opts.expectedVersion, source: opts.source });
      return { version: r.version };
    },
    async versionOf(path) {
      try {
        return (await files.stat(path)).version;
      } catch (err) {
        if (err instanceof IcpyError && err.code === 'FILE_NOT_FOUND') return null;
        throw err;
      }
    },
  };
}

/** Live documents (docs.*): the DocService, its methods and events, and the fs.* events merged into open documents. */
export const docsModule: AppModule = {
  name: 'docs',
  setup(ctx) {
    const files = ctx.shared.files;
    if (!files) throw new Error('docsModule needs the files module to start first');
    const store = new DisposableStore();
    // Made after the service (it listens to it), but screens every peer's awareness from the start.
    let presence: PresenceService | undefined;
    const service = new DocService({
      files: fileServiceDocFiles(files, ctx.config.limits.maxDocBytes),
      limits: ctx.config.limits,
      saveDebounceMs: ctx.config.docs.saveDebounceMs,
      saveMaxDelayMs: ctx.config.docs.saveMaxDelayMs,
      publish: (topic, data, source) => ctx.broker.publish(topic, data, source),
      logger: ctx.logger,
      screenAwareness: (update, from) => (presence ? presence.screen(update, from.connection).update : update),
    });
    // Before the service: disposed after it, so its last saves at shutdown are recorded as versions.
    store.add(setupDocHistory(ctx, service));
    store.add(service);
    ctx.shared.docs = service;
    const sub = ctx.broker.subscribe(['fs.file.changed', 'fs.file.created', 'fs.file.deleted', 'fs.dir.deleted'], (ev) => {
      const paths = (ev.data as { paths?: unknown }).paths;
      if (!Array.isArray(paths)) return;
      service.diskChanged(paths as string[], { folders: ev.topic === 'fs.dir.deleted' });
    });
    store.add(toDisposable(() => sub.dispose()));
    presence = store.add(
      new PresenceService(service, ctx.broker, {
        timeoutMs: ctx.config.docs.presenceTimeoutMs,
        maxEntries: ctx.config.limits.maxConnections,
        maxEntriesLimit: 'maxConnections',
        normalizePath: (p) => files.guard.lexical(p).rel,
        logger: ctx.logger,
      }),
    );
    store.add(ctx.registry.register(...createDocsMethods(service, { onEdited: (connection, path) => presence?.touch(connection, path) })));
    store.add(ctx.registry.registerEvents(...docsEvents));
    store.add(ctx.registry.register(...createPresenceMethods(presence)));
    store.add(ctx.registry.registerEvents(...presenceEvents));
    // Last in, first out: Yjs sockets close (peers leave) before presence and the service stop.
    store.add(mountYjs(ctx, service));
    return store;
  },
};
