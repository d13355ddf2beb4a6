export { DocService, CHANGED_EVENT_MS, CLOSE_DELETED, type DocLimits, type DocServiceOptions, type DocSummary, type SavedEvent } from './doc-service.js';
export { LiveDoc, EditOrigin, sourceOfOrigin, type LiveDocOptions } from './live-doc.js';
export type { DocFiles } from './doc-files.js';
export { diffDelta } from './text-diff.js';
export { transform, applyToString, invert, type DeltaOp, type RecordedOp } from './delta.js';
export { lineStarts, offsetAt, positionAt, type LspPosition, type LspRange } from './positions.js';
export { editsToDelta, type TextEdit } from './edits.js';
export { createDocsMethods, type DocsMethodHooks } from './docs.methods.js';
export { docsEvents } from './docs.events.js';
export {
  PresenceService,
  PRESENCE_TIMEOUT_MS,
  colorFor,
  rpcIdOf,
  type PresenceEntry,
  type PresenceOptions,
  type PresenceRoom,
  type PresenceRooms,
  type PresenceUpdate,
} from './presence.js';
export { createPresenceMethods } from './presence.methods.js';
export { presenceEvents } from './presence.events.js';
