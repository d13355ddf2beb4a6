import { z } from 'zod';
import { defineEvent } from '../core/rpc/index.js';
import { FRAMEWORKS } from './workflow.js';

const run = { runId: z.string(), workflow: z.string() };
const tally = { steps: z.number().int(), toolCalls: z.number().int(), durationMs: z.number().int() };

/** agents.run.* : one run, in order — started, then per model turn a step, its deltas and tool calls, then completed or failed. */
export const agentRunEvents = [
  defineEvent({
    topic: 'agents.run.started',
    description: 'A workflow run started (agents.run). The source is the run: kind agent, named after the workflow.',
    data: z.object({ ...run, framework: z.enum(FRAMEWORKS), model: z.string(), input: z.string() }),
    pathFree: true,
  }),
  defineEvent({
    topic: 'agents.run.step',
    description: 'The run asks the model again (one model turn; step counts from 1).',
    data: z.object({ ...run, step: z.number().int() }),
    pathFree: true,
  }),
  defineEvent({
    topic: 'agents.run.tool.called',
    description:
      "The model called one of icpy's tools; ok false with the error the model was given (what was refused and why). Long string arguments are cut. Delivered to path-limited principals only when every path the call named is theirs.",
    data: z.object({
      ...run,
      step: z.number().int(),
      tool: z.string(),
      method: z.string(),
      args: z.unknown(),
      ok: z.boolean(),
      error: z.object({ code: z.string(), message: z.string() }).optional(),
      paths: z.array(z.string()),
    }),
    paths: (d) => d.paths,
  }),
  defineEvent({
    topic: 'agents.run.message.delta',
    description:
      "A piece of the model's text as it streams. paths: every path the run's successful tool calls named so far (the text may quote them); delivered to path-limited principals only when all are theirs.",
    data: z.object({ ...run, step: z.number().int(), delta: z.string(), paths: z.array(z.string()) }),
    paths: (d) => d.paths,
  }),
  defineEvent({
    topic: 'agents.run.completed',
    description: "The run ended with the model's final answer (output, cut at 16 KiB). paths as for message.delta.",
    data: z.object({ ...run, output: z.string(), paths: z.array(z.string()), ...tally }),
    paths: (d) => d.paths,
  }),
  defineEvent({
    topic: 'agents.run.failed',
    description:
      'The run ended without an answer: reason cancelled (agents.cancel, a revoked credential, shutdown; code null), timeout (code TIMEOUT, agents.runTimeoutMs) or error (code MODEL_ERROR with data {status, message}, MODEL_UNAVAILABLE when the endpoint cannot be reached, LIMIT_EXCEEDED for agents.maxTurns, INTERNAL_ERROR…).',
    data: z.object({
      ...run,
      reason: z.enum(['cancelled', 'timeout', 'error']),
      code: z.string().nullable(),
      message: z.string(),
      data: z.object({ status: z.number().int(), message: z.string() }).optional().describe("MODEL_ERROR: the endpoint's HTTP status and error message"),
      ...tally,
    }),
    pathFree: true,
  }),
];
