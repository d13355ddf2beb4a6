import type { ModelEndpoint } from '../model-endpoint.js';
import type { ToolBridge } from '../tool-bridge.js';
import type { Workflow } from '../workflow.js';

/** What a framework adapter gets to run one workflow. */
export interface FrameworkRun {
  workflow: Workflow;
  input: string;
  endpoint: ModelEndpoint;
  /** The run's fetch (steps, maxTurns, abort): the adapter's OpenAI client uses it. */
  fetch: typeof fetch;
  tools: ToolBridge;
  signal: AbortSignal;
  maxTurns: number;
  /** A piece of the model's text, as it streams. */
  onDelta(text: string): void;
}

/** The adapter resolves with the final text of the run, or rejects (the service maps the error). */
export type FrameworkRunner = (run: FrameworkRun) => Promise<string>;

/** JSON Schema as the SDKs take it: without `$schema` (some providers reject unknown keys). */
export function plainSchema(schema: Record<string, unknown>): Record<string, unknown> & { type: 'object' } {
  const { $schema: _ignored, ...rest } = schema;
  return { ...rest, type: 'object' };
}
