import { z } from 'zod';
import { defineMethod } from '../core/rpc/index.js';
import { workflowInfoSchema } from './workflow.js';
import type { WorkflowService } from './workflow-service.js';

/** Longest input a run takes (it becomes the model's first user message). */
export const MAX_RUN_INPUT_CHARS = 64 * 1024;

export function createAgentRunMethods(service: WorkflowService) {
  return [
    defineMethod({
      name: 'agents.workflows',
      description:
        "Workflows agents.run can start: built-ins (fix-file with the OpenAI Agents SDK, fix-file-graph with LangGraph) and the workspace's .icpy/agents/*.mjs. Listing loads the workspace modules (their code runs as the server user), so it needs 'execute' like agents.run.",
      params: z.strictObject({}),
      result: z.array(workflowInfoSchema),
      scope: 'execute',
      pathFree: true,
      handler: async () => (await service.list()).map(({ instructions: _i, ...w }) => ({ ...w, tools: w.tools ? [...w.tools] : undefined })),
    }),
    defineMethod({
      name: 'agents.run',
      description:
        "Start a workflow run and answer {runId} at once; progress streams as agents.run.started, .step, .tool.called, .message.delta, then .completed or .failed (subscribe to agents.run.** first). The run acts for you: its tool calls have your scopes and path limits, and appear as a connection of kind agent named after the workflow. MODEL_UNAVAILABLE when no model endpoint is configured; LIMIT_EXCEEDED past agents.maxConcurrentRuns.",
      params: z.strictObject({
        workflow: z.string().min(1).max(64).describe('Workflow name (agents.workflows)'),
        input: z.string().max(MAX_RUN_INPUT_CHARS).describe("The task, as the model's first message ('Fix app.py')"),
        model: z.string().min(1).max(200).optional().describe('Model name; default agents.model (ICPY_AGENTS_MODEL)'),
      }),
      result: z.object({ runId: z.string() }),
      scope: 'execute',
      pathFree: true,
      examples: [{ params: { workflow: 'fix-file', input: 'Fix the error in app.py' }, result: { runId: '3f0c9a52-8a43-4c1e-9a6b-2d4f1b7e0c11' } }],
      handler: (p, ctx) => service.start(p, ctx),
    }),
    defineMethod({
      name: 'agents.cancel',
      description: 'Cancel a run of yours that is still going: its model request is aborted, no further tool runs, and it ends with agents.run.failed (reason cancelled). AGENT_RUN_NOT_FOUND for an unknown or finished run.',
      params: z.strictObject({ runId: z.string().min(1).max(100) }),
      result: z.object({ cancelled: z.literal(true) }),
      scope: 'execute',
      pathFree: true,
      idempotent: true,
      destructive: false,
      handler: (p, ctx) => service.cancel(p.runId, ctx.principal),
    }),
  ];
}
