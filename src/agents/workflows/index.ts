import type { Workflow } from '../workflow.js';
import { fixFile, fixFileGraph } from './fix-file.js';

/** Workflows shipped with icpy (a workspace workflow of the same name does not replace one). */
export const BUILTIN_WORKFLOWS: readonly Workflow[] = [fixFile, fixFileGraph];
