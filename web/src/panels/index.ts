import type { WebContext } from '../context.js';
import { registerTerminalPanel } from './terminal.js';
import { registerRunPanel, type RunPanel } from './run.js';
import { registerLsp } from './lsp.js';
import { registerHistoryPanel } from './history.js';
import { registerActivityPanel } from './activity.js';
import './panels.css';

export interface Panels {
  /** Runs the current file in the run panel (the shell may bind it to a button or key; F5 is bound). */
  run: RunPanel;
}

/**
 * Every panel registers here; the shell calls this once, before any file opens (the LSP editor
 * extensions must be registered before the first editor is made).
 */
export function registerPanels(ctx: WebContext): Panels {
  registerLsp(ctx);
  registerTerminalPanel(ctx);
  const run = registerRunPanel(ctx);
  registerHistoryPanel(ctx);
  registerActivityPanel(ctx);
  return { run };
}
