import type { Workflow } from '../workflow.js';

const FIX_FILE_INSTRUCTIONS = [
  "You fix an error in one file of the user's workspace, which a human may have open in an editor.",
  'Read the file the user names with files_read, find the error, then write the whole corrected file with files_write',
  "(pass the version files_read returned as expectedVersion, so you never overwrite someone's newer edit).",
  'Change only what the fix needs. When a tool answers with an error, read it: it says what was refused and why.',
  'Finish with one short sentence saying what you fixed.',
].join(' ');

const FIX_FILE_TOOLS = ['files_read', 'files_write', 'files_list', 'files_stat'];

/** Read a file, find the error, write the fix — with the OpenAI Agents SDK. */
export const fixFile: Workflow = {
  name: 'fix-file',
  description: 'Read the named file, find the error, write the fix (OpenAI Agents SDK).',
  framework: 'openai-agents',
  instructions: FIX_FILE_INSTRUCTIONS,
  tools: FIX_FILE_TOOLS,
};

/** The same task as a LangGraph graph (ReAct: model ⇄ tools). */
export const fixFileGraph: Workflow = {
  name: 'fix-file-graph',
  description: 'Read the named file, find the error, write the fix (LangGraph ReAct graph).',
  framework: 'langgraph',
  instructions: FIX_FILE_INSTRUCTIONS,
  tools: FIX_FILE_TOOLS,
};
