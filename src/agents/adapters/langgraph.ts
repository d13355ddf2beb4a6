import { AIMessageChunk, isAIMessage, type BaseMessage } from '@langchain/core/messages';
import { DynamicStructuredTool } from '@langchain/core/tools';
import { createReactAgent } from '@langchain/langgraph/prebuilt';
import { ChatOpenAI } from '@langchain/openai';
import type { ToolBridge } from '../tool-bridge.js';
import { plainSchema, type FrameworkRunner } from './run-options.js';

/**
 * icpy's tools as LangChain tools (JSON Schema from the registry), each calling the dispatcher
 * through the bridge; errors come back to the model as the tool message's text.
 */
export function langChainTools(bridge: ToolBridge): DynamicStructuredTool[] {
  return bridge.specs.map(
    (spec) =>
      new DynamicStructuredTool({
        name: spec.name,
        description: spec.description,
        schema: plainSchema(spec.inputSchema) as any,
        func: async (args: unknown) => bridge.call(spec.name, args),
      }),
  );
}

/**
 * Runs a workflow as a LangGraph graph (the prebuilt ReAct agent: model node ⇄ ToolNode) with
 * `ChatOpenAI` pointed at the configured endpoint (Chat Completions, streaming), so message
 * deltas stream out as the model writes them.
 */
export const runLangGraph: FrameworkRunner = async (run) => {
  const llm = new ChatOpenAI({
    model: run.endpoint.model,
    apiKey: run.endpoint.apiKey || 'unused',
    streaming: true,
    maxRetries: 0,
    configuration: { baseURL: run.endpoint.baseUrl, fetch: run.fetch },
  });
  const graph = createReactAgent({ llm, tools: langChainTools(run.tools), prompt: run.workflow.instructions });
  const stream = await graph.stream(
    { messages: [{ role: 'user', content: run.input }] },
    // A ReAct turn is two graph steps (model, tools); the model fetch bounds turns exactly.
    { streamMode: ['messages', 'values'], signal: run.signal, recursionLimit: run.maxTurns * 2 + 2 },
  );
  let last: BaseMessage[] = [];
  for await (const [mode, payload] of stream as AsyncIterable<[string, any]>) {
    if (mode === 'messages') {
      const [chunk] = payload as [BaseMessage, unknown];
      if (chunk instanceof AIMessageChunk && typeof chunk.content === 'string' && chunk.content) run.onDelta(chunk.content);
    } else if (mode === 'values') {
      last = (payload?.messages ?? last) as BaseMessage[];
    }
  }
  run.signal.throwIfAborted();
  const final = [...last].reverse().find((m) => isAIMessage(m));
  const content = final?.content;
  return typeof content === 'string' ? content : JSON.stringify(content ?? '');
};
