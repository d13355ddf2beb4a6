export { FileService, fsError, type DirEntry, type EntryType, type FileServiceOptions, type FileStat, type ReadResult, type WriteResult } from './file-service.js';
export { FileWatcher, DISK_SOURCE, type FileWatcherOptions, type FsBatch, type FsTopic } from './file-watcher.js';
export { PathGuard, STATE_DIR, type ResolvedPath } from './path-guard.js';
export { versionOf } from './file-version.js';
export { GitignoreCache, parseGitignore, matchRules } from './gitignore.js';
export { createFilesMethods, statSchema } from './files.methods.js';
export { createFilesOperations } from './files.operations.js';
export { filesEvents } from './files.events.js';
export { FileSearch, findRipgrep, fuzzyScore, type ContentMatch, type ContentSearchOptions, type NameMatch, type SearchPage } from './file-search.js';
