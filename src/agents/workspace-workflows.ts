import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from '../core/logger.js';
import { workflowModuleSchema, type WorkflowInfo } from './workflow.js';

/** `.icpy/agents/*.mjs` files read at most (sorted by name; the rest are ignored and logged). */
export const MAX_WORKSPACE_WORKFLOWS = 32;
/** A workflow module larger than this is not loaded. */
export const MAX_WORKFLOW_FILE_BYTES = 64 * 1024;

export const WORKSPACE_WORKFLOW_DIR = '.icpy/agents';

/**
 * Workflows a workspace declares in `<root>/.icpy/agents/*.mjs`, loaded on demand (each call
 * looks again; a changed file is imported anew). Importing a module runs its code as the server
 * user, so only callers with `execute` get here (agents.workflows and agents.run both need it).
 * A file that fails to load or does not export a workflow is skipped with a warning.
 */
export async function loadWorkspaceWorkflows(root: string, logger: Logger): Promise<WorkflowInfo[]> {
  const dir = join(root, WORKSPACE_WORKFLOW_DIR);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.mjs')).sort();
  } catch {
    return [];
  }
  if (names.length > MAX_WORKSPACE_WORKFLOWS) {
    logger.warn('agents: too many workspace workflows; loading the first', { dir, files: names.length, max: MAX_WORKSPACE_WORKFLOWS });
    names = names.slice(0, MAX_WORKSPACE_WORKFLOWS);
  }
  const out: WorkflowInfo[] = [];
  for (const name of names) {
    const file = join(dir, name);
    const rel = `${WORKSPACE_WORKFLOW_DIR}/${name}`;
    try {
      const st = await stat(file);
      if (!st.isFile()) continue;
      if (st.size > MAX_WORKFLOW_FILE_BYTES) {
        logger.warn('agents: workspace workflow too large; skipped', { file: rel, size: st.size, max: MAX_WORKFLOW_FILE_BYTES });
        continue;
      }
      // The query makes a changed file a new module (ESM caches by URL).
      const mod = await import(`${pathToFileURL(file).href}?v=${st.mtimeMs}-${st.size}`);
      const parsed = workflowModuleSchema.safeParse(mod.default ?? mod);
      if (!parsed.success) {
        logger.warn('agents: workspace workflow does not export {name, framework, instructions}; skipped', { file: rel, problem: parsed.error.issues[0]?.message });
        continue;
      }
      out.push({ ...parsed.data, from: 'workspace', file: rel });
    } catch (err) {
      logger.warn('agents: workspace workflow failed to load; skipped', { file: rel, err: String(err) });
    }
  }
  return out;
}
