export { activityOf, activityVisibleTo, COMMAND_PREVIEW, MAX_ACTIVITY_PATHS, type ActivityEntry, type ActivityRecord, type ActivityStore } from './activity.js';
export {
  buildContext,
  contextVisibleTo,
  DEFAULT_CONTEXT_DIAGNOSTICS,
  MAX_CONTEXT_DIAGNOSTICS,
  type AgentContext,
  type ContextPorts,
  type DiagnosticView,
  type PresenceView,
  type TerminalView,
  type WorkspaceView,
} from './context.js';
export { createAgentsContextMethods, agentContextSchema, activityEntrySchema } from './agents-context.methods.js';
