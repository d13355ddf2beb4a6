import type * as Y from 'yjs';
import { DisposableStore, toDisposable } from '../core/lifecycle.js';
import type { DocService, LiveDoc } from '../services/docs/index.js';
import type { FileService } from '../services/files/index.js';
import { LspService, createLspMethods, lspEvents, serverTable, type LspDocs, type LspLiveText, type TextDeltaOp } from '../services/lsp/index.js';
import { mountLspRaw } from './lsp-mount.js';
import type { AppContext, AppModule } from './modules.js';

/** The LspDocs port over the documents and files services. */
export function lspDocsPort(ctx: AppContext, docs: DocService, files: FileService): LspDocs {
  const wrapped = new WeakMap<LiveDoc, LspLiveText>();
  const wrap = (live: LiveDoc): LspLiveText => {
    let w = wrapped.get(live);
    if (!w) {
      w = {
        path: live.path,
        text: () => live.text.toString(),
        version: () => live.version,
        onChange(cb) {
          // Registered after LiveDoc's own observer, so live.version is already the new one.
          const h = (e: Y.YTextEvent) => cb(e.delta as TextDeltaOp[], live.version);
          live.text.observe(h);
          return toDisposable(() => live.text.unobserve(h));
        },
      };
      wrapped.set(live, w);
    }
    return w;
  };
  return {
    realRoot: files.guard.realRoot,
    configuredRoot: ctx.config.root,
    async resolve(path, field = 'path') {
      return (await files.guard.resolve(path, field as 'path')).rel;
    },
    live: (path) => {
      const l = docs.loaded(path);
      return l ? wrap(l) : undefined;
    },
    allLive: () => docs.list().flatMap((s) => {
      const l = docs.loaded(s.path);
      return l ? [wrap(l)] : [];
    }),
    onOpened: (cb) => docs.onOpened((d) => cb(wrap(d))),
    onClosed: (cb) => docs.onClosed((d) => cb(d.path)),
    onSaved: (cb) => docs.onSaved((e) => cb(e.path)),
    onDiskChanged(cb) {
      const sub = ctx.broker.subscribe(['fs.file.changed', 'fs.file.created'], (ev) => {
        const paths = (ev.data as { paths?: unknown }).paths;
        if (Array.isArray(paths)) cb(paths.filter((p): p is string => typeof p === 'string'));
      });
      return toDisposable(() => sub.dispose());
    },
    readDisk: async (path) => (await docs.get(path)).text,
    applyEdits: (path, edits, opts) => docs.applyEdits(path, edits, opts),
  };
}

/** Language servers (lsp.*, lsp.diagnostics.published): the service over the live documents. Starts after docs. */
export const lspModule: AppModule = {
  name: 'lsp',
  setup(ctx) {
    const docs = ctx.shared.docs;
    const files = ctx.shared.files;
    if (!docs || !files) throw new Error('lspModule needs the files and docs modules to start first');
    const store = new DisposableStore();
    const cfg = ctx.config.lsp;
    const service = new LspService({
      table: serverTable(cfg.languages),
      docs: lspDocsPort(ctx, docs, files),
      logger: ctx.logger,
      idleTimeoutMs: cfg.idleTimeoutMs,
      requestTimeoutMs: cfg.requestTimeoutMs,
      maxInflightPerClient: cfg.maxInflightPerClient,
      maxRestartsPerMinute: cfg.maxRestartsPerMinute,
      publish: (topic, data, source) => ctx.broker.publish(topic, data, source),
    });
    // Disposed in reverse: methods go, then every server is shut down (shutdown/exit, then its group killed).
    store.add(toDisposable(() => service.dispose()));
    ctx.shared.lsp = service;
    store.add(ctx.registry.register(...createLspMethods(service)));
    store.add(ctx.registry.registerEvents(...lspEvents));
    // Raw LSP (WS /api/lsp/{languageId}) onto the same servers; its sockets close before the servers stop.
    store.add(
      mountLspRaw(ctx, docs, {
        serverFor: (id) => service.serverFor(id),
        diagnosticsOf: (p) => service.diagnosticsOf(p),
        pathOf: (uri) => service.pathOf(uri),
        uriOf: (path) => service.uriOf(path),
      }),
    );
    return store;
  },
};
