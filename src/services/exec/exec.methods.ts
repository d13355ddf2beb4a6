import { z } from 'zod';
import { pathAllowed, type Principal } from '../../core/principal.js';
import { defineMethod, sourceOf, whenReplied } from '../../core/rpc/index.js';
import { userKeyedRecord } from '../../core/user-keys.js';
import { MAX_MEMORY_MB, type ExecService } from './exec-service.js';
import { completionSchema, historyEntrySchema, runSummarySchema } from './exec.schemas.js';

/** Largest `code` (characters); a bigger program belongs in a workspace file (`path`). */
export const MAX_CODE_CHARS = 1024 * 1024;

/** A string handed to the OS (argument, environment, path): it cannot hold a NUL. */
const osString = (max: number, min = 0) => z.string().min(min).max(max).refine((v) => !v.includes('\0'), { message: 'contains a NUL character' });
const id = z.string().min(1).max(100).describe('Run id');

const envSchema = userKeyedRecord(z.string().max(1024).regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable name'), osString(65536)).refine(
  (e) => Object.keys(e).length <= 1024,
  { message: 'more than 1024 variables' },
);

/** `wait: true`: the completion (without the output offsets) and the output itself. */
const waitResult = completionSchema.omit({ bytes: true, droppedBytes: true }).extend({ stdout: z.string(), stderr: z.string() });

/** A run a path-limited principal may see: its file and folder inside the limits. */
function runVisible(p: Principal, run: { path: string | null; cwd: string }): boolean {
  return pathAllowed(p, run.cwd) && (run.path === null || pathAllowed(p, run.path));
}

export function createExecMethods(exec: ExecService, maxTimeoutMs: number) {
  const run = defineMethod({
    name: 'exec.run',
    description:
      'Run code (or a workspace file) with python, javascript, typescript, bash or a configured language. Returns {id, queued} at once; output follows as exec.output events, then exec.completed. With wait: true the call returns the whole result instead. Unsandboxed runs have the server user\'s rights (like Jupyter); sandbox: true runs under bubblewrap. See docs/protocol/exec.md.',
    params: z.strictObject({
      language: z.string().min(1).max(64).optional().describe('A language of the table; optional with `path` (taken from its extension)'),
      code: z.string().max(MAX_CODE_CHARS).optional().describe(`Program text (at most ${MAX_CODE_CHARS} characters)`),
      path: osString(4096, 1).optional().describe('Workspace file to run, relative to the root'),
      args: z.array(osString(65536)).max(1024).optional(),
      stdin: z.string().max(8 * 1024 * 1024).optional().describe('Written to the program, then its stdin is closed'),
      cwd: osString(4096).optional().describe('Folder to run in, relative to the workspace root; default the root'),
      env: envSchema.optional().describe('Added to the environment'),
      timeoutMs: z.number().int().min(1).max(maxTimeoutMs).optional().describe('Wall-clock limit (ms); default exec.defaultTimeoutMs'),
      memoryMb: z.number().int().min(0).max(MAX_MEMORY_MB).optional().describe('Data-segment limit per process (MiB, RLIMIT_DATA); 0 = none'),
      cpuSeconds: z.number().int().min(0).max(Math.ceil(maxTimeoutMs / 1000)).optional().describe('CPU-time limit per process (s, RLIMIT_CPU); 0 = none'),
      sandbox: z.boolean().optional().describe('Run under bubblewrap (SANDBOX_UNAVAILABLE when it is missing; never unsandboxed)'),
      wait: z.boolean().optional().describe('Wait for the end and return the whole output'),
      detach: z.boolean().optional().describe('false: the run is cancelled when this caller goes (socket closed, HTTP client gone). Default true'),
    })
      // Exactly one of code and path; the JSON Schema says so with oneOf.
      .superRefine((p, ctx) => {
        if ((p.code === undefined) === (p.path === undefined)) {
          ctx.addIssue({ code: 'custom', path: [p.code === undefined ? 'code' : 'path'], message: 'give exactly one of code and path' });
        }
      })
      .meta({ oneOf: [{ required: ['code'] }, { required: ['path'] }] }),
    result: z.union([z.object({ id: z.string(), queued: z.number().int().describe('Queue position; 0 = started') }), waitResult]),
    scope: 'execute',
    // Code runs as the server user, not confined by path limits; the file and folder it names are checked.
    paths: (p) => [
      { field: 'path', path: p.path },
      { field: 'cwd', path: p.cwd ?? '' },
    ],
    examples: [
      { params: { language: 'python', code: 'print(6 * 7)' }, result: { id: 'x1-3f9a2c', queued: 0 } },
      {
        name: 'wait',
        params: { language: 'bash', code: 'echo hi; exit 3', wait: true },
        result: {
          id: 'x2-b71e04',
          exitCode: 3,
          signal: null,
          stdout: 'hi\n',
          stderr: '',
          durationMs: 4,
          timedOut: false,
          cancelled: false,
          truncated: false,
          cpuMs: 0,
          maxRssKb: 3456,
          error: null,
        },
      },
    ],
    handler: (p, ctx) => {
      if (p.wait) return exec.runAndWait(p, sourceOf(ctx), ctx.signal);
      const r = exec.submit(p, sourceOf(ctx), ctx.signal);
      return { id: r.id, queued: exec.position(r) };
    },
  });

  const write = defineMethod({
    name: 'exec.write',
    description:
      "Send input to a run's stdin; eof: true closes it afterwards. Input for a queued run is held (at most 1 MiB) until it starts; a running program may have at most 8 MiB written to it that it has not read yet (LIMIT_EXCEEDED unreadStdinBytes: write again once it has).",
    params: z.strictObject({ id, data: z.string().max(1024 * 1024).default(''), eof: z.boolean().default(false) }),
    result: z.object({ bytes: z.number().int() }),
    scope: 'execute',
    pathFree: true,
    handler: ({ id, data, eof }) => ({ bytes: exec.write(id, data, eof) }),
  });

  const cancel = defineMethod({
    name: 'exec.cancel',
    description: "Stop a run: a queued one leaves the queue; a running one's whole process group gets SIGTERM, then SIGKILL after a grace (2 s).",
    params: z.strictObject({ id }),
    result: runSummarySchema,
    scope: 'execute',
    pathFree: true,
    handler: ({ id }) => exec.cancel(id),
  });

  const list = defineMethod({
    name: 'exec.list',
    description: 'Queued, running and recently finished runs (the last 32 finished, for 10 minutes, holding at most 64 MiB of output together) with their state and completion.',
    params: z.strictObject({}),
    result: z.object({ runs: z.array(runSummarySchema) }),
    scope: 'read',
    pathFree: true,
    visible: (r, pr) => ({ runs: r.runs.filter((run) => runVisible(pr, run)) }),
    handler: () => ({ runs: exec.list() }),
  });

  const history = defineMethod({
    name: 'exec.history',
    description: 'Finished runs, newest first, from the SQLite history (bounded by exec.historyMaxRuns): who ran what (source), where, and how it ended. Page with before = the last seq seen.',
    params: z.strictObject({ limit: z.number().int().min(1).max(1000).default(100), before: z.number().int().min(1).optional() }),
    result: z.object({ runs: z.array(historyEntrySchema), more: z.boolean() }),
    scope: 'read',
    pathFree: true,
    visible: (r, pr) => ({ ...r, runs: r.runs.filter((run) => runVisible(pr, run)) }),
    handler: ({ limit, before }) => exec.history(limit, before),
  });

  const attach = defineMethod({
    name: 'exec.attach',
    description:
      "Receive a run's output on this connection: after the reply, exec.output notifications {id, stream, offset, data} carry every byte from `since` (default 0) on — replay, then live — with no gap and no duplicate, then one exec.completed notification. Resume after a dropped socket with since = offset + byteLength(data) of the last output received. encoding \"binary\" sends output as binary frames (type 0x02, see docs/protocol/exec.md). A connection that reads slowly never holds the program back: what it has not been sent waits in the run's output files (flow control).",
    params: z.strictObject({
      id,
      since: z.number().int().min(0).optional(),
      encoding: z.enum(['json', 'binary']).default('json').describe('json: exec.output notifications; binary: one binary WebSocket frame per chunk'),
    }),
    result: z.object({
      id: z.string(),
      offset: z.number().int().describe('Output starts at this offset'),
      end: z.number().int().describe('Output bytes so far'),
      status: z.enum(['queued', 'running', 'completed']),
      encoding: z.enum(['json', 'binary']),
    }),
    scope: 'read',
    pathFree: true,
    requiresSession: true,
    handler: ({ id, since, encoding }, ctx) => {
      const { result, start } = exec.attach(id, ctx.session!, ctx.connection.id, since, encoding);
      whenReplied(ctx, start);
      return result;
    },
  });

  const detach = defineMethod({
    name: 'exec.detach',
    description: "Stop receiving a run's output on this connection (the run goes on).",
    params: z.strictObject({ id }),
    result: z.object({ detached: z.boolean() }),
    scope: 'read',
    pathFree: true,
    requiresSession: true,
    handler: ({ id }, ctx) => ({ detached: exec.detach(id, ctx.session!, ctx.connection.id) }),
  });

  return [run, write, cancel, list, history, attach, detach];
}
