import type { EventSource } from '../../core/broker/index.js';

export type FsTopic = 'fs.file.created' | 'fs.file.changed' | 'fs.file.deleted' | 'fs.dir.created' | 'fs.dir.deleted';

/** One change icpy made to the disk. */
export interface LocalChange {
  topic: FsTopic;
  /** The real (symlink-free) path changed. */
  real: string;
  /** Its workspace-relative form, as published. */
  rel: string;
  /** Everything under it changed with it: a folder moved, copied or removed. */
  tree?: boolean;
}

/**
 * How the files service reports what it does, so that its changes are published with their
 * caller as source when it makes them, and the watcher reports only what icpy did not do.
 */
export interface ChangeSink {
  /**
   * icpy is about to change these real paths (and what is under them). Until the returned
   * function is called, the watcher holds back its reports of them, so it never races the
   * service's own report.
   */
  begin(realPaths: string[]): () => void;
  /** icpy made these changes on behalf of `source`: publish them now (before the reply). */
  made(changes: LocalChange[], source: EventSource): void;
}
