/**
 * The editor: CodeMirror 6 bound to icpy's shared document of a file through y-codemirror.next
 * over `/api/yjs/{path}` (text `getText('content')`), remote cursors from awareness `user`.
 * One file at a time; opening another disposes the previous binding.
 */
import { basicSetup } from 'codemirror';
import { EditorState, type Extension } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { javascript } from '@codemirror/lang-javascript';
import { python } from '@codemirror/lang-python';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { yCollab } from 'y-codemirror.next';
import type { Identity } from './identity.js';

export interface OpenEditor {
  path: string;
  view: EditorView;
  ydoc: Y.Doc;
  provider: WebsocketProvider;
  /** Resolves once the document's content arrived from the server. */
  synced: Promise<void>;
  dispose(): void;
}

export function languageFor(path: string): Extension[] {
  const ext = path.slice(path.lastIndexOf('.') + 1).toLowerCase();
  switch (ext) {
    case 'js': case 'mjs': case 'cjs': return [javascript()];
    case 'jsx': return [javascript({ jsx: true })];
    case 'ts': case 'mts': case 'cts': return [javascript({ typescript: true })];
    case 'tsx': return [javascript({ typescript: true, jsx: true })];
    case 'py': case 'pyi': return [python()];
    default: return [];
  }
}

/** Percent-encode each segment; y-websocket joins `serverUrl + '/' + room` as given. */
export function roomFor(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

export function openEditor(
  parent: HTMLElement, path: string, me: Identity, extra: Extension[],
): OpenEditor {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ydoc = new Y.Doc();
  // No BroadcastChannel: every edit goes through the server, as it does between machines.
  const provider = new WebsocketProvider(`${proto}//${location.host}/api/yjs`, roomFor(path), ydoc, {
    params: { kind: 'browser', name: me.name }, disableBc: true, maxBackoffTime: 5000,
  });
  provider.awareness.setLocalStateField('user', { name: me.name, color: me.color, colorLight: me.color + '33' });
  const ytext = ydoc.getText('content');
  const undoManager = new Y.UndoManager(ytext);
  const state = EditorState.create({
    doc: ytext.toString(),
    extensions: [
      basicSetup,
      ...languageFor(path),
      yCollab(ytext, provider.awareness, { undoManager }),
      EditorView.theme({ '&': { height: '100%' }, '.cm-scroller': { overflow: 'auto' } }),
      ...extra,
    ],
  });
  const view = new EditorView({ state, parent });
  const synced = new Promise<void>((resolve) => {
    if (provider.synced) return resolve();
    const on = (s: boolean) => { if (s) { provider.off('sync', on); resolve(); } };
    provider.on('sync', on);
  });
  return {
    path, view, ydoc, provider, synced,
    dispose() {
      view.destroy();
      provider.awareness.setLocalState(null);
      provider.destroy();
      undoManager.destroy();
      ydoc.destroy();
    },
  };
}

/** Moves the cursor to an LSP-style position (0-based line, UTF-16 character) and shows it. */
export function reveal(view: EditorView, at: { line: number; character: number }): void {
  const doc = view.state.doc;
  const line = doc.line(Math.min(Math.max(at.line + 1, 1), doc.lines));
  const pos = Math.min(line.from + Math.max(at.character, 0), line.to);
  view.dispatch({ selection: { anchor: pos }, effects: EditorView.scrollIntoView(pos, { y: 'center' }) });
  view.focus();
}
