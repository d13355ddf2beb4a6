import { z } from 'zod';

export const FRAMEWORKS = ['openai-agents', 'langgraph'] as const;
export type Framework = (typeof FRAMEWORKS)[number];

/**
 * A workflow: instructions for a model, the framework that runs it, and the tools it may use
 * (a subset of the caller's tools; all of them when absent). Built-ins live in `workflows/`,
 * workspace ones in `<root>/.icpy/agents/*.mjs`.
 */
export interface Workflow {
  name: string;
  description: string;
  framework: Framework;
  instructions: string;
  /** Tool names (`files_read`) the model is offered; absent = every tool the caller may call. */
  tools?: readonly string[];
}

export interface WorkflowInfo extends Workflow {
  from: 'builtin' | 'workspace';
  /** Workspace-relative file of a workspace workflow. */
  file?: string;
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** What a workspace module must export (as `default`, or as named exports). */
export const workflowModuleSchema = z.object({
  name: z.string().regex(NAME, 'a lowercase name of 1-64 characters: a-z 0-9 . _ -'),
  description: z.string().max(2000).default(''),
  framework: z.enum(FRAMEWORKS),
  instructions: z.string().min(1).max(32_000),
  tools: z.array(z.string().max(100)).max(200).optional(),
});

export const workflowInfoSchema = z.object({
  name: z.string(),
  description: z.string(),
  framework: z.enum(FRAMEWORKS),
  from: z.enum(['builtin', 'workspace']),
  file: z.string().optional(),
  tools: z.array(z.string()).optional(),
});
