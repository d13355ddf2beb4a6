import { z } from 'zod';
import { pathAllowed } from '../../core/principal.js';
import { defineMethod, sourceOf, whenReplied } from '../../core/rpc/index.js';
import { userKeyedRecord, userName } from '../../core/user-keys.js';
import type { TerminalService } from './terminal-service.js';

export const MAX_COLS = 1000;
export const MAX_ROWS = 1000;

const id = z.string().min(1).max(100).describe('Terminal id');
const cols = z.number().int().min(1).max(MAX_COLS).describe(`Columns, 1..${MAX_COLS}`);
const rows = z.number().int().min(1).max(MAX_ROWS).describe(`Rows, 1..${MAX_ROWS}`);
const offset = z.number().int().min(0).describe('Absolute byte offset (UTF-8) in the output stream');
/** A string handed to the OS (program, argument, environment, cwd): it cannot hold a NUL. */
const osString = (max: number, min = 0) => z.string().min(min).max(max).refine((v) => !v.includes('\0'), { message: 'contains a NUL character' });
const name = userName('Display name');

export const terminalSchema = z.object({
  id: z.string(),
  name: z.string(),
  cwd: z.string(),
  shell: z.string(),
  args: z.array(z.string()),
  pid: z.number().int(),
  cols: z.number().int(),
  rows: z.number().int(),
  status: z.enum(['running', 'exited']),
  exitCode: z.number().int().nullable(),
  signal: z.number().int().nullable(),
  createdAt: z.number(),
  attached: z.number().int().describe('Connections attached now'),
  paused: z.boolean().describe('PTY paused because an attached client is behind'),
  start: z.number().int().describe('Oldest offset kept in scrollback'),
  end: z.number().int().describe('Offset after the newest output byte (total bytes produced)'),
});

/** A terminal as the examples show it. */
const exampleTerminal = {
  id: 't1-3f9a2c',
  name: 'bash',
  cwd: '',
  shell: '/bin/bash',
  args: [],
  pid: 48213,
  cols: 120,
  rows: 30,
  status: 'running' as const,
  exitCode: null,
  signal: null,
  createdAt: 1_767_225_600_000,
  attached: 0,
  paused: false,
  start: 0,
  end: 0,
};

export function createTerminalsMethods(terminals: TerminalService) {
  const create = defineMethod({
    name: 'terminal.create',
    description:
      'Start a shell in a new PTY. The terminal belongs to the workspace: it keeps running when clients go, until terminal.close, its process exits, or the idle timeout. cwd is relative to the workspace root and must stay inside it. At most limits.maxTerminals run at once (LIMIT_EXCEEDED).',
    params: z.strictObject({
      cwd: osString(4096).optional().describe('Folder to start in, relative to the workspace root; default the root'),
      shell: osString(4096, 1).optional().describe('Program to run; default $SHELL or /bin/bash'),
      args: z.array(osString(65536)).max(256).optional(),
      env: userKeyedRecord(z.string().max(1024).regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable name'), osString(65536)).optional(),
      cols,
      rows,
      name: name.optional(),
    }),
    result: terminalSchema,
    scope: 'execute',
    // The shell is not confined by path limits (docs/agents.md); the folder it starts in is checked.
    paths: (p) => [{ field: 'cwd', path: p.cwd ?? '' }],
    examples: [
      { params: { cols: 120, rows: 30 }, result: exampleTerminal },
      {
        params: { cwd: 'src', cols: 80, rows: 24, name: 'build' },
        result: { ...exampleTerminal, id: 't2-b71e04', name: 'build', cwd: 'src', pid: 48230, cols: 80, rows: 24 },
      },
    ],
    handler: (p, ctx) => terminals.summary(terminals.create(p, sourceOf(ctx))),
  });

  const list = defineMethod({
    name: 'terminal.list',
    description:
      'Every terminal of the workspace, running or exited. An exited one keeps its scrollback (attach replays it) until closed, or until it is reaped limits.exitedTerminalGraceMs after its exit (terminal.closed, reason "reaped").',
    params: z.strictObject({}),
    result: z.object({ terminals: z.array(terminalSchema) }),
    scope: 'read',
    pathFree: true,
    visible: (r, pr) => ({ terminals: r.terminals.filter((t) => pathAllowed(pr, terminals.relativeCwd(t.cwd))) }),
    examples: [{ params: {}, result: { terminals: [{ ...exampleTerminal, attached: 1, end: 51234 }] } }],
    handler: () => ({ terminals: terminals.list() }),
  });

  const write = defineMethod({
    name: 'terminal.write',
    description:
      'Send input to the PTY (keystrokes, pasted text, escape sequences). Writing makes the caller the most recent active client, so its size (from attach or resize) is applied first.',
    params: z.strictObject({ id, data: z.string().max(1024 * 1024) }),
    result: z.object({ bytes: z.number().int() }),
    scope: 'execute',
    pathFree: true,
    examples: [{ params: { id: 't1-3f9a2c', data: 'ls -la\r' }, result: { bytes: 7 } }],
    handler: ({ id, data }, ctx) => {
      terminals.write(id, data, ctx.connection.id);
      return { bytes: Buffer.byteLength(data) };
    },
  });

  const resize = defineMethod({
    name: 'terminal.resize',
    description:
      'Set the PTY size (the shell sees it: SIGWINCH, tput cols). Rule: the most recent active client wins — the last to resize, attach with a size, or type.',
    params: z.strictObject({ id, cols, rows }),
    result: z.object({ cols: z.number().int(), rows: z.number().int() }),
    scope: 'execute',
    pathFree: true,
    destructive: false,
    idempotent: true,
    handler: ({ id, cols, rows }, ctx) => {
      terminals.resize(id, cols, rows, sourceOf(ctx));
      return { cols, rows };
    },
  });

  const close = defineMethod({
    name: 'terminal.close',
    description: 'Kill the terminal\'s whole process session (SIGHUP, SIGKILL after a grace period), detach its clients and forget it.',
    params: z.strictObject({ id }),
    result: z.object({ closed: z.boolean() }),
    scope: 'execute',
    pathFree: true,
    handler: async ({ id }, ctx) => {
      await terminals.close(id, 'closed', sourceOf(ctx));
      return { closed: true };
    },
  });

  const rename = defineMethod({
    name: 'terminal.rename',
    description: 'Change the display name of a terminal.',
    params: z.strictObject({ id, name }),
    result: terminalSchema,
    scope: 'write',
    pathFree: true,
    destructive: false,
    idempotent: true,
    handler: ({ id, name }, ctx) => terminals.rename(id, name, sourceOf(ctx)),
  });

  const attach = defineMethod({
    name: 'terminal.attach',
    description:
      'Receive this terminal\'s output on this connection: after the reply, `terminal.output` notifications {id, offset, data} carry every byte from `offset` on, replay then live, with no gap and no duplicate. `since` = the offset after the last byte you have (resume); omitted = from the oldest kept byte. If `since` is older than the scrollback, `truncated` is true and output starts at the oldest kept byte. encoding "binary" sends output as binary frames (see docs/protocol/terminals.md). ack=true adds flow control by terminal.ack.',
    params: z.strictObject({
      id,
      since: offset.optional(),
      encoding: z.enum(['json', 'binary']).default('json'),
      ack: z.boolean().default(false).describe('Count unacknowledged bytes (terminal.ack) for flow control'),
      cols: cols.optional(),
      rows: rows.optional(),
      redraw: rows
        .optional()
        .describe(
          'Rows of a blank screen to repaint: output starts early enough (at the latest, the start of the last `redraw` lines, or where a full-screen program switched to the alternate screen) to redraw it, even when `since` is later',
        ),
    }),
    result: z.object({
      id: z.string(),
      offset: z.number().int().describe('Output will start at this offset'),
      truncated: z.boolean().describe('since was older than the kept scrollback'),
      start: z.number().int(),
      end: z.number().int(),
      cols: z.number().int(),
      rows: z.number().int(),
      status: z.enum(['running', 'exited']),
    }),
    scope: 'read',
    pathFree: true,
    requiresSession: true,
    examples: [
      {
        description: 'Fresh attach: replay the kept scrollback, then live output',
        params: { id: 't1-3f9a2c' },
        result: { id: 't1-3f9a2c', offset: 0, truncated: false, start: 0, end: 51234, cols: 120, rows: 30, status: 'running' },
      },
      {
        name: 'resume',
        description: 'Resume after the last byte received',
        params: { id: 't1-3f9a2c', since: 40960 },
        result: { id: 't1-3f9a2c', offset: 40960, truncated: false, start: 0, end: 51234, cols: 120, rows: 30, status: 'running' },
      },
    ],
    handler: (p, ctx) => {
      const { result, start } = terminals.attach(p.id, ctx.session!, sourceOf(ctx), p);
      whenReplied(ctx, start);
      return result;
    },
  });

  const detach = defineMethod({
    name: 'terminal.detach',
    description: 'Stop receiving output of this terminal on this connection. The terminal keeps running.',
    params: z.strictObject({ id }),
    result: z.object({ detached: z.boolean() }),
    scope: 'read',
    pathFree: true,
    requiresSession: true,
    handler: ({ id }, ctx) => ({ detached: terminals.detach(id, ctx.connection.id) }),
  });

  const ack = defineMethod({
    name: 'terminal.ack',
    description:
      'Acknowledge output processed up to `offset` (for clients attached with ack=true; send as a JSON-RPC notification). The PTY pauses while a client has more unacknowledged bytes than the high-water mark.',
    params: z.strictObject({ id, offset }),
    result: z.object({ ok: z.boolean() }),
    scope: 'read',
    pathFree: true,
    requiresSession: true,
    handler: ({ id, offset }, ctx) => {
      terminals.ack(id, ctx.connection.id, offset);
      return { ok: true };
    },
  });

  const run = defineMethod({
    name: 'terminal.run',
    description:
      'Run a shell command in a new visible terminal (listed, attachable, events published) and return its output (CRLF turned into LF) and exit code. On timeout the command\'s whole process session is killed and timedOut is true. The exited terminal stays listed (attachable, its output readable) until closed, or reaped once limits.exitedTerminalGraceMs has passed.',
    params: z.strictObject({
      command: osString(65536, 1),
      cwd: osString(4096).optional(),
      timeout: z.number().int().min(1).max(3_600_000).default(30_000).describe('Milliseconds'),
      cols: cols.default(120),
      rows: rows.default(30),
      name: name.optional(),
    }),
    result: z.object({
      id: z.string(),
      exitCode: z.number().int().nullable(),
      signal: z.number().int().nullable(),
      timedOut: z.boolean(),
      output: z.string(),
      truncated: z.boolean().describe('Output longer than the scrollback; its start is missing'),
      durationMs: z.number(),
    }),
    scope: 'execute',
    paths: (p) => [{ field: 'cwd', path: p.cwd ?? '' }],
    examples: [
      {
        params: { command: 'npm test', timeout: 120_000 },
        result: {
          id: 't3-0c5d91',
          exitCode: 0,
          signal: null,
          timedOut: false,
          output: '> demo@1.0.0 test\n> vitest run\n\n Test Files  4 passed (4)\n      Tests  31 passed (31)\n',
          truncated: false,
          durationMs: 5321,
        },
      },
    ],
    handler: (p, ctx) =>
      terminals.run({ command: p.command, cwd: p.cwd, timeoutMs: p.timeout, cols: p.cols, rows: p.rows, name: p.name }, sourceOf(ctx)),
  });

  return [create, list, write, resize, close, rename, attach, detach, ack, run];
}
