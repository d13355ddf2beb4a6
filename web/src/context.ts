/**
 * The contract between the web workspace's shell (main.ts, rpc.ts, shell.ts, explorer, editor,
 * presence, quick open, search) and its panels (panels/: terminal, run, lsp, history, activity).
 * The shell implements it; each panel module registers itself through `panels/index.ts`.
 */
import type { Extension } from '@codemirror/state';
import type { EditorView } from '@codemirror/view';

export type Unsubscribe = () => void;

/** An icpy event as /api/ws delivers it (`{"method":"event","params":{…}}`). */
export interface IcpyEvent {
  topic: string;
  seq: number;
  time: number;
  source: { connectionId: string; kind: 'browser' | 'cli' | 'agent' | 'system'; name: string };
  data: any;
}

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** JSON-RPC over the one /api/ws socket (cookie-authenticated), reconnecting by itself. */
export interface RpcClient {
  call<T = any>(method: string, params?: Record<string, unknown>): Promise<T>;
  /**
   * Events matching `patterns`, live; after a reconnect the client resubscribes with `since` = the
   * last seq it delivered, so nothing is missed or repeated (EVENTS_GAP → `onGap`, resync).
   */
  subscribe(patterns: string[], handler: (ev: IcpyEvent) => void, onGap?: () => void): Unsubscribe;
  /** Other server notifications on the socket (e.g. terminal output), text frames by method. */
  onNotification(method: string, handler: (params: any) => void): Unsubscribe;
  /** Binary frames on the socket (exec/terminal attach frames, see docs/protocol). */
  onBinary(handler: (data: ArrayBuffer) => void): Unsubscribe;
  readonly state: ConnectionState;
  onState(handler: (state: ConnectionState) => void): Unsubscribe;
  /** Runs after every (re)connect, before queued calls: re-attach terminals, resubscribe. */
  onOpen(handler: () => void): Unsubscribe;
  /** This socket's connection id (`connections.whoami`), once open. */
  readonly connectionId: string | undefined;
}

export interface Panel {
  id: string;
  title: string;
  /** Bottom panels are tabs under the editor (terminal, run, history, activity); side ones beside the explorer. */
  area: 'bottom' | 'side';
  /** Called once, the first time the panel is shown. */
  mount(el: HTMLElement): void;
  /** Called each time it is shown (e.g. to fit a terminal to its new size). */
  shown?(): void;
}

export interface WebContext {
  rpc: RpcClient;
  /** Workspace-relative path of the file in the editor, if any. */
  readonly file: string | undefined;
  openFile(path: string, at?: { line: number; character: number }): void;
  onFileChange(handler: (path: string | undefined) => void): Unsubscribe;
  /** The editor of the current file (undefined when none is open). */
  readonly view: EditorView | undefined;
  /** Extensions every editor gets for its file (lint, completion, hover); register before files open. */
  addEditorExtensions(factory: (path: string) => Extension[]): void;
  addPanel(panel: Panel): void;
  showPanel(id: string): void;
  togglePanel(id: string): void;
  /** A short message in the status bar. */
  notify(message: string, kind?: 'info' | 'error'): void;
}
