export { WorkflowService, type WorkflowServiceOptions } from './workflow-service.js';
export { createAgentRunMethods, MAX_RUN_INPUT_CHARS } from './agents-run.methods.js';
export { agentRunEvents } from './agents-run.events.js';
export { ToolBridge, type ToolCallReport } from './tool-bridge.js';
// The adapters (adapters/openai-agents.ts, adapters/langgraph.ts) are imported directly by who
// needs them, so importing this module does not load the SDKs.
export type { FrameworkRun, FrameworkRunner } from './adapters/run-options.js';
export type { ModelEndpoint } from './model-endpoint.js';
export type { Workflow, WorkflowInfo, Framework } from './workflow.js';
export { MAX_WORKSPACE_WORKFLOWS, MAX_WORKFLOW_FILE_BYTES, WORKSPACE_WORKFLOW_DIR } from './workspace-workflows.js';
