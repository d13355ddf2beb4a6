import { z } from 'zod';
import { defineEvent } from '../../core/rpc/index.js';

const pos = z.object({ line: z.number().int(), character: z.number().int() });

export const lspEvents = [
  defineEvent({
    topic: 'lsp.diagnostics.published',
    description:
      "A language server published the diagnostics of a workspace file (the whole current set: an empty list clears them), sent as soon as the server publishes. version is the live document's version they were computed for, when the server says.",
    data: z.object({
      path: z.string(),
      version: z.number().int().optional(),
      diagnostics: z.array(z.object({ range: z.object({ start: pos, end: pos }), message: z.string(), severity: z.number().int().optional(), code: z.union([z.string(), z.number()]).optional(), source: z.string().optional() }).passthrough()),
    }),
    paths: (d) => [d.path],
  }),
];
