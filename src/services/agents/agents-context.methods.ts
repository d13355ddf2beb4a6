import { z } from 'zod';
import { defineMethod } from '../../core/rpc/index.js';
import { activityVisibleTo, type ActivityEntry, type ActivityStore } from './activity.js';
import { buildContext, contextVisibleTo, DEFAULT_CONTEXT_DIAGNOSTICS, MAX_CONTEXT_DIAGNOSTICS, type AgentContext, type ContextPorts } from './context.js';

const pos = z.object({ line: z.number().int(), character: z.number().int() }).describe('LSP position: 0-based line, character in UTF-16 code units');
const selection = z.object({ anchor: pos, head: pos });
const humanKind = z.enum(['browser', 'cli']);

const diagnostic = z
  .object({ range: z.object({ start: pos, end: pos }), message: z.string(), severity: z.number().int().optional(), code: z.union([z.string(), z.number()]).optional(), source: z.string().optional() })
  .describe('LSP diagnostic (severity 1 error, 2 warning, 3 information, 4 hint)');

export const agentContextSchema = z.object({
  time: z.number(),
  human: z
    .object({
      from: z.enum(['presence', 'workspace', 'none']).describe('presence: the most recently active human presence (browser before CLI); workspace: the shared active editor and its newest cursor; none: nothing open'),
      name: z.string().optional(),
      kind: humanKind.optional(),
      activeFile: z.string().optional(),
      cursor: pos.optional(),
      selection: selection.optional().describe('Present when not empty; cursor is its head'),
      updatedAt: z.number().optional(),
    })
    .describe('Where the human is: start here'),
  editors: z.object({ open: z.array(z.string()), active: z.string().nullable() }).describe('The shared workspace editors (workspace.get), in tab order'),
  humans: z
    .array(
      z.object({
        name: z.string(),
        kind: humanKind,
        color: z.string(),
        files: z.array(z.string()).describe('Files they have open, most recent first'),
        activeFile: z.string().optional(),
        cursor: pos.optional(),
        selection: selection.optional(),
        updatedAt: z.number(),
      }),
    )
    .describe('Every human present (presence.list without agents), one per name and kind, most recent first'),
  diagnostics: z.object({
    files: z.array(
      z.object({
        path: z.string(),
        open: z.boolean(),
        counts: z.object({ error: z.number().int(), warning: z.number().int(), information: z.number().int(), hint: z.number().int() }),
        diagnostics: z.array(diagnostic),
      }),
    ),
    total: z.number().int().describe('Diagnostics the language servers last published, listed or not'),
    truncated: z.boolean().describe('Some were left out (maxDiagnostics, or more than 50 files)'),
  }),
  terminals: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      cwd: z.string().optional().describe("Workspace-relative ('' = the root)"),
      status: z.enum(['running', 'exited']),
      exitCode: z.number().int().nullable(),
      createdAt: z.number(),
    }),
  ),
});

export const activityEntrySchema = z.object({
  id: z.number().int(),
  time: z.number(),
  agent: z.string(),
  principalId: z.string(),
  connectionId: z.string(),
  transport: z.string(),
  method: z.string(),
  paths: z.array(z.string()).optional(),
  command: z.string().optional().describe('The command, code or typed text, first 200 characters'),
  outcome: z.enum(['ok', 'error']),
  code: z.string().optional().describe('Error code when it failed'),
  message: z.string().optional(),
  ms: z.number(),
});

const exampleContext: z.input<typeof agentContextSchema> = {
  time: 1767225600000,
  human: { from: 'presence', name: 'Ada', kind: 'browser', activeFile: 'src/app.ts', cursor: { line: 11, character: 4 }, updatedAt: 1767225599000 },
  editors: { open: ['src/app.ts', 'README.md'], active: 'src/app.ts' },
  humans: [{ name: 'Ada', kind: 'browser', color: '#4363d8', files: ['src/app.ts'], activeFile: 'src/app.ts', cursor: { line: 11, character: 4 }, updatedAt: 1767225599000 }],
  diagnostics: {
    files: [
      {
        path: 'src/app.ts',
        open: true,
        counts: { error: 1, warning: 0, information: 0, hint: 0 },
        diagnostics: [{ range: { start: { line: 1, character: 6 }, end: { line: 1, character: 7 } }, message: "Type 'string' is not assignable to type 'number'.", severity: 1, code: 2322, source: 'typescript' }],
      },
    ],
    total: 1,
    truncated: false,
  },
  terminals: [{ id: 't1-3f9a2c', name: 'bash', cwd: '', status: 'running', exitCode: null, createdAt: 1767225500000 }],
};

export function createAgentsContextMethods(ports: ContextPorts, activity: ActivityStore) {
  const context = defineMethod({
    name: 'agents.context',
    description:
      'What the human is looking at, so an agent starts where they are: `human` (active file, cursor, selection of the most recently active browser presence, else the shared workspace\'s active editor and its newest cursor), the open editors, every human present and what each has open, the latest diagnostics (the active file first, then open files, errors first; at most maxDiagnostics) and the terminals. A path-limited credential sees only its paths.',
    params: z.strictObject({
      maxDiagnostics: z.number().int().min(0).max(MAX_CONTEXT_DIAGNOSTICS).default(DEFAULT_CONTEXT_DIAGNOSTICS).describe(`Most diagnostics listed (0–${MAX_CONTEXT_DIAGNOSTICS})`),
    }),
    result: agentContextSchema,
    scope: 'read',
    pathFree: true,
    idempotent: true,
    visible: (r, p) => contextVisibleTo(r as AgentContext, p),
    examples: [{ params: {}, result: exampleContext }],
    handler: (p) => buildContext(ports, { maxDiagnostics: p.maxDiagnostics }),
  });

  const list = defineMethod({
    name: 'agents.activity',
    description:
      'What agents did: every call made by a connection of kind agent (over WS, HTTP, MCP or the CLI) — method, the paths it named, the command it ran (first 200 characters), outcome (ok, or the error code), duration — oldest first. Without since: the newest `limit`; with since (an entry id, e.g. the last `next`): the entries after it. `agent` matches the agent name or its principal id (`agent:<id>`). Kept in SQLite, the oldest dropped beyond agents.activityRows.',
    params: z.strictObject({
      agent: z.string().min(1).max(256).optional().describe('Agent name or principal id'),
      since: z.number().int().min(0).optional().describe('Entry id: return entries after it'),
      sinceTime: z.number().int().min(0).optional().describe('Only entries at or after this time (ms since the epoch)'),
      limit: z.number().int().min(1).max(1000).default(100).describe('Most entries (1–1000)'),
    }),
    result: z.object({
      entries: z.array(activityEntrySchema),
      next: z.number().int().optional().describe('Pass as since for the entries after these'),
      more: z.boolean().describe('More entries match than were returned: with since, newer ones (page on with since = next); without, older ones'),
    }),
    scope: 'read',
    pathFree: true,
    idempotent: true,
    visible: (r, p) => ({ ...r, entries: r.entries.filter((e) => activityVisibleTo(e as ActivityEntry, p)) }),
    examples: [
      {
        params: { agent: 'review-bot', since: 41 },
        result: {
          entries: [
            { id: 42, time: 1767225600000, agent: 'review-bot', principalId: 'agent:k3x9', connectionId: 'c-3f2a', transport: 'mcp', method: 'files.write', paths: ['src/app.ts'], outcome: 'ok', ms: 2.4 },
            { id: 43, time: 1767225600100, agent: 'review-bot', principalId: 'agent:k3x9', connectionId: 'c-3f2a', transport: 'mcp', method: 'terminal.run', command: 'npm test', outcome: 'error', code: 'FORBIDDEN', message: "terminal.run needs the 'execute' scope; review-bot has read, write", ms: 0.1 },
          ],
          next: 43,
          more: false,
        },
      },
    ],
    handler: (p) => {
      const { rows, more } = activity.list({
        limit: p.limit,
        ...(p.since !== undefined ? { after: p.since } : {}),
        ...(p.sinceTime !== undefined ? { sinceTime: p.sinceTime } : {}),
        ...(p.agent !== undefined ? { who: p.agent } : {}),
      });
      const entries = rows.map((r) => ({ ...r.record, id: r.id }));
      const last = entries[entries.length - 1];
      return { entries, ...(last ? { next: last.id } : p.since !== undefined ? { next: p.since } : {}), more };
    },
  });

  return [context, list];
}
