import type { WebContext } from '../context.js';

/** Every panel registers here (terminal, run, lsp, history, activity); the shell calls this once. */
export function registerPanels(_ctx: WebContext): void {}
