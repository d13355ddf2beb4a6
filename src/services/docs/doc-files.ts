import type { EventSource } from '../../core/broker/index.js';

/**
 * The documents service's access to the disk: a port, implemented in app/docs-module.ts with the
 * FileService (so writes stay atomic, attributed and version-checked, and publish fs.* events).
 */
export interface DocFiles {
  /** Text of a file + its file version; NOT_TEXT if binary/invalid UTF-8, FILE_TOO_LARGE over maxDocBytes. */
  readText(path: string): Promise<{ path: string; text: string; version: string }>;
  /**
   * Atomic, attributed, version-checked write (expectedVersion null = must not exist). Two writes
   * by other programs can race it, and both come back so the caller can merge them instead of
   * losing them:
   * - `replaced`: the text of the file this write replaced, when another program wrote that file
   *   in place after the version check (the window between check and rename). `version` is ours.
   * - `overwritten`: the text the file holds at `version`, when another program wrote our new file
   *   in place before its version was taken: `version` then names their bytes, not `text`.
   */
  writeText(path: string, text: string, opts: { expectedVersion: string | null; source: EventSource }): Promise<{ version: string; replaced?: string; overwritten?: string }>;
  /** The file's version now, or null when it does not exist (a cheap check before a read). Optional. */
  versionOf?(path: string): Promise<string | null>;
}
