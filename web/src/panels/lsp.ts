import type { Extension } from '@codemirror/state';
import { ViewPlugin, hoverTooltip, type EditorView, type ViewUpdate } from '@codemirror/view';
import { lintGutter, setDiagnostics } from '@codemirror/lint';
import { autocompletion, type CompletionContext, type CompletionResult } from '@codemirror/autocomplete';
import { EditorState } from '@codemirror/state';
import type { WebContext } from '../context.js';
import { offsetToPosition, rangeToOffsets } from './positions.js';
import { hasLanguageServer, hoverText, toCmCompletions, toCmDiagnostics, type LspDiagnostic } from './lsp-convert.js';

/**
 * Language-server features for every editor of a file a server covers (docs/protocol/lsp.md):
 * diagnostics in the gutter (the file's set from `lsp.diagnostics` on open, then each
 * `lsp.diagnostics.published` event), completion (`lsp.completion`) and hover (`lsp.hover`).
 * The editor's text reaches the server through the live document (Yjs), so nothing here sends
 * text: positions are enough.
 */
/**
 * One `lsp.diagnostics.published` subscription for every editor of the page (a connection may
 * hold at most `maxSubscriptionsPerConnection`), fanned out by path.
 */
class DiagnosticsFeed {
  private readonly byPath = new Map<string, Set<(list: LspDiagnostic[]) => void>>();
  private started = false;

  constructor(private readonly ctx: WebContext) {}

  listen(path: string, fn: (list: LspDiagnostic[]) => void): () => void {
    if (!this.started) {
      this.started = true;
      this.ctx.rpc.subscribe(['lsp.diagnostics.published'], (ev) => {
        const fns = this.byPath.get(ev.data?.path);
        if (fns) for (const f of fns) f(ev.data.diagnostics ?? []);
      });
    }
    let set = this.byPath.get(path);
    if (!set) this.byPath.set(path, (set = new Set()));
    set.add(fn);
    return () => {
      set!.delete(fn);
      if (!set!.size) this.byPath.delete(path);
    };
  }
}

export function lspExtensions(ctx: WebContext, feed: DiagnosticsFeed, path: string): Extension[] {
  if (!hasLanguageServer(path)) return [];

  const diagnostics = ViewPlugin.fromClass(
    class {
      private latest: LspDiagnostic[] | undefined;
      private readonly off: () => void;
      private dead = false;

      constructor(private readonly view: EditorView) {
        this.off = feed.listen(path, (list) => this.show(list));
        ctx.rpc
          .call<{ files: { path: string; diagnostics: LspDiagnostic[] }[] }>('lsp.diagnostics', { path })
          .then((r) => {
            // A published set that came while this call waited is newer than its answer.
            if (this.latest === undefined) this.show(r.files.find((f) => f.path === path)?.diagnostics ?? []);
          })
          .catch(() => {});
      }

      show(list: LspDiagnostic[]) {
        this.latest = list;
        if (this.dead) return;
        // Dispatching inside another update is not allowed; the set is applied on its own.
        queueMicrotask(() => {
          if (this.dead) return;
          this.view.dispatch(setDiagnostics(this.view.state, toCmDiagnostics(this.view.state.doc, list)));
        });
      }

      update(_u: ViewUpdate) {}

      destroy() {
        this.dead = true;
        this.off();
      }
    },
  );

  async function complete(context: CompletionContext): Promise<CompletionResult | null> {
    const word = context.matchBefore(/[\w$]+/);
    const before = context.state.sliceDoc(Math.max(0, context.pos - 1), context.pos);
    if (!word && !context.explicit && before !== '.') return null;
    const position = offsetToPosition(context.state.doc, context.pos);
    let r: { items: Parameters<typeof toCmCompletions>[0] } | null;
    try {
      r = await ctx.rpc.call('lsp.completion', { path, position, limit: 200 });
    } catch {
      return null;
    }
    if (context.aborted || !r || !r.items?.length) return null;
    return { from: word ? word.from : context.pos, options: toCmCompletions(r.items), validFor: /^[\w$]*$/ };
  }

  const hover = hoverTooltip(async (view, pos) => {
    let r: { contents: unknown; range?: Parameters<typeof rangeToOffsets>[1] } | null;
    try {
      r = await ctx.rpc.call('lsp.hover', { path, position: offsetToPosition(view.state.doc, pos) });
    } catch {
      return null;
    }
    const text = r ? hoverText(r.contents) : '';
    if (!text) return null;
    const range = r!.range ? rangeToOffsets(view.state.doc, r!.range) : { from: pos, to: pos };
    return {
      pos: range.from,
      end: range.to,
      above: true,
      create() {
        const dom = document.createElement('div');
        dom.className = 'icpy-hover';
        dom.textContent = text.length > 4000 ? `${text.slice(0, 4000)}…` : text;
        return { dom };
      },
    };
  });

  return [
    lintGutter(),
    diagnostics,
    // A completion source as language data joins any autocompletion() the shell configured.
    EditorState.languageData.of(() => [{ autocomplete: complete }]),
    autocompletion({ activateOnTyping: true }),
    hover,
  ];
}

export function registerLsp(ctx: WebContext): void {
  const feed = new DiagnosticsFeed(ctx);
  ctx.addEditorExtensions((path) => lspExtensions(ctx, feed, path));
}
