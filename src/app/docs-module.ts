import { isUtf8 } from 'node:buffer';
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { IcpyError } from '../core/errors.js';
import { DisposableStore, toDisposable } from '../core/lifecycle.js';
import { DocService, PresenceService, createDocsMethods, createPresenceMethods, docsEvents, presenceEvents, type DocFiles } from '../services/docs/index.js';
import { versionOf, type FileService } from '../services/files/index.js';
import { setupDocHistory } from './docs-history.js';
import type { AppModule } from './modules.js';
import { mountYjs } from './yjs-mount.js';

/** The file's bytes when its version is still `version` (else undefined). */
function readIfVersion(real: string, version: string): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    const st = fstatSync(fd, { bigint: true });
    return st.isFile() && versionOf(st) === version ? readFileSync(fd) : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

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
      // Hold the file being replaced open: a program writing it in place between the files
      // service's version check and its rename would otherwise be lost without a trace. Its
      // mtime or size moving while we held it means exactly that; its text is handed back.
      const real = await files.guard.resolve(path).then((r) => r.real, () => undefined); // the write says why not
      let held: { fd: number; mtimeNs: bigint; size: bigint } | undefined;
      if (opts.expectedVersion !== null && real !== undefined) {
        try {
          const fd = openSync(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
          const st = fstatSync(fd, { bigint: true });
          if (st.isFile() && versionOf(st) === opts.expectedVersion) held = { fd, mtimeNs: st.mtimeNs, size: st.size };
          else closeSync(fd);
        } catch {
          // missing or unreadable: the write below says why
        }
      }
      try {
        const bytes = Buffer.from(text, 'utf8');
        // checkedRename: a program that replaces the file by a rename of its own cannot be handed
        // back (its file is gone once ours is renamed over it), so that window is closed instead.
        const r = await files.write(path, bytes, { expectedVersion: opts.expectedVersion, source: opts.source, checkedRename: true });
        const out: { version: string; replaced?: string; overwritten?: string } = { version: r.version };
        // …and one writing the new file in place between the rename (in the thread pool) and the
        // stat that gave r.version: that version then names their bytes, and the next save would
        // overwrite them unchecked. No await since files.write's stat, so only another process can
        // still slip in between, and then the version differs and the watcher reports it.
        const now = real === undefined ? undefined : readIfVersion(real, r.version);
        if (now && !now.equals(bytes) && now.length <= maxDocBytes && isUtf8(now)) out.overwritten = now.toString('utf8');
        // Both can happen in one save (traced: an in-place writer during a slow rename, and the
        // next one right after it): each is reported, neither hides the other.
        if (held) {
          const st = fstatSync(held.fd, { bigint: true });
          if (st.mtimeNs !== held.mtimeNs || st.size !== held.size) {
            const old = readFileSync(held.fd);
            if (old.length <= maxDocBytes && isUtf8(old)) out.replaced = old.toString('utf8');
          }
        }
        return out;
      } finally {
        if (held) closeSync(held.fd);
      }
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

/** Live documents (docs.*, WS /api/yjs/{path}): the DocService, its methods and events, and the fs.* events merged into open documents. */
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
      service.diskChanged(paths as string[], { folders: ev.topic === 'fs.dir.deleted', source: ev.source });
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
    ctx.shared.presence = presence;
    store.add(ctx.registry.register(...createDocsMethods(service, { onEdited: (connection, path) => presence?.touch(connection, path) })));
    store.add(ctx.registry.registerEvents(...docsEvents));
    store.add(ctx.registry.register(...createPresenceMethods(presence)));
    store.add(ctx.registry.registerEvents(...presenceEvents));
    // Added last so it is disposed first: Yjs sockets close (1001) before presence stops and the documents save and unload.
    store.add(mountYjs(ctx, service));
    return store;
  },
};
