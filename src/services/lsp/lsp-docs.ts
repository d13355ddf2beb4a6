import type { EventSource } from '../../core/broker/index.js';
import type { Disposable } from '../../core/lifecycle.js';

/** One Yjs-style delta op of a text change (embeds count as one character). */
export type TextDeltaOp = { insert: string | object } | { delete: number } | { retain: number };

/** A live document as the language service sees it (the documents service's LiveDoc, through the port). */
export interface LspLiveText {
  readonly path: string;
  text(): string;
  /** +1 on every change to the text. */
  version(): number;
  /** After every change: the delta against the text before it, and the version it made. */
  onChange(cb: (delta: readonly TextDeltaOp[], version: number) => void): Disposable;
}

export interface LspTextEdit {
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  text: string;
}

/**
 * What the language service needs from the documents and files services. `app/lsp-module.ts`
 * implements it with the DocService and the FileService; the service never imports them.
 */
export interface LspDocs {
  /** The workspace root with symlinks followed: servers get URIs under it. */
  readonly realRoot: string;
  /** The root as configured, when it is spelled otherwise (a client may use either spelling). */
  readonly configuredRoot?: string;
  /** Normalise a client's path (workspace-relative) — PATH_OUTSIDE_WORKSPACE / FILE_NOT_FOUND as the files service says. */
  resolve(path: string, field?: string): Promise<string>;
  /** The live document of a path when one is loaded. */
  live(path: string): LspLiveText | undefined;
  /** Every live document loaded now. */
  allLive(): LspLiveText[];
  onOpened(cb: (doc: LspLiveText) => void): Disposable;
  onClosed(cb: (path: string) => void): Disposable;
  onSaved(cb: (path: string) => void): Disposable;
  /** Files changed on disk (workspace-relative paths). */
  onDiskChanged(cb: (paths: readonly string[]) => void): Disposable;
  /** The file's text on disk (FILE_NOT_FOUND, NOT_TEXT, FILE_TOO_LARGE as the documents say). */
  readDisk(path: string): Promise<string>;
  /** Apply edits through the live documents, attributed (every client sees them). */
  applyEdits(path: string, edits: readonly LspTextEdit[], opts: { baseVersion?: number; source: EventSource }): Promise<{ version: number }>;
}
