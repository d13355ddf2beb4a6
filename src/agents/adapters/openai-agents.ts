import { Agent, OpenAIChatCompletionsModel, Runner, tool, type Tool } from '@openai/agents';
import OpenAI from 'openai';
import type { ToolBridge } from '../tool-bridge.js';
import { plainSchema, type FrameworkRunner } from './run-options.js';

/**
 * icpy's tools as `@openai/agents` function tools: the method's JSON Schema (non-strict — our
 * schemas have optional fields and defaults, which strict mode rejects), each calling the
 * dispatcher through the bridge; errors come back to the model as text.
 */
export function openAIAgentsTools(bridge: ToolBridge): Tool[] {
  return bridge.specs.map((spec) =>
    tool({
      name: spec.name,
      description: spec.description,
      parameters: plainSchema(spec.inputSchema) as any,
      strict: false,
      execute: (args: unknown) => bridge.call(spec.name, args),
      // The bridge answers errors as text itself; anything reaching here is the run being aborted.
      errorFunction: null,
    }),
  );
}

/**
 * Runs a workflow with the OpenAI Agents SDK on the Chat Completions API of the configured
 * endpoint (an `openai` client with that baseURL and key — never the SDK's network default),
 * tracing off (it would export to OpenAI), streaming.
 */
export const runOpenAIAgents: FrameworkRunner = async (run) => {
  const client = new OpenAI({ baseURL: run.endpoint.baseUrl, apiKey: run.endpoint.apiKey || 'unused', maxRetries: 0, fetch: run.fetch });
  const agent = new Agent({
    name: run.workflow.name,
    instructions: run.workflow.instructions,
    model: new OpenAIChatCompletionsModel(client as any, run.endpoint.model),
    tools: openAIAgentsTools(run.tools),
  });
  const runner = new Runner({ tracingDisabled: true });
  const result = await runner.run(agent, run.input, { stream: true, signal: run.signal, maxTurns: run.maxTurns });
  for await (const ev of result) {
    if (ev.type === 'raw_model_stream_event' && ev.data.type === 'output_text_delta') run.onDelta(ev.data.delta);
  }
  await result.completed;
  if (result.error) throw result.error;
  run.signal.throwIfAborted();
  const out = result.finalOutput;
  return typeof out === 'string' ? out : JSON.stringify(out ?? '');
};
