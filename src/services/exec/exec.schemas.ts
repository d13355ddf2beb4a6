import { z } from 'zod';

const source = z.object({ connectionId: z.string(), kind: z.enum(['browser', 'cli', 'agent', 'system']), name: z.string() });

export const completionSchema = z.object({
  id: z.string(),
  exitCode: z.number().int().nullable().describe('null when the program was killed by a signal or never started'),
  signal: z.string().nullable().describe("The signal that killed the program ('SIGKILL', 'SIGXCPU', …)"),
  durationMs: z.number().describe('Wall-clock time from start to the program\'s exit'),
  timedOut: z.boolean(),
  cancelled: z.boolean().describe('exec.cancel, the caller going (detach: false) or server shutdown'),
  truncated: z.boolean().describe('Output passed maxOutputBytes: the rest was dropped (a marker line says so)'),
  cpuMs: z.number().int().nullable().describe('User + system CPU of the program and the children it waited for; null when unknown'),
  maxRssKb: z.number().int().nullable().describe('Peak resident memory of the largest process (KiB); null when unknown'),
  bytes: z.number().int().describe('Offset after the last output byte kept'),
  droppedBytes: z.number().int().describe('Output bytes dropped past the cap'),
  error: z.string().nullable().describe('Why the program could not start'),
});

export const runSummarySchema = z.object({
  id: z.string(),
  language: z.string(),
  path: z.string().nullable(),
  cwd: z.string(),
  status: z.enum(['queued', 'running', 'completed']),
  position: z.number().int().describe('1-based place in the queue; 0 when not queued'),
  pid: z.number().int().nullable(),
  sandbox: z.boolean(),
  source,
  createdAt: z.number(),
  startedAt: z.number().nullable(),
  finishedAt: z.number().nullable(),
  bytes: z.number().int().describe('Output bytes so far (the offset after the newest)'),
  completion: completionSchema.nullable(),
});

export const outputSchema = z.object({
  id: z.string(),
  stream: z.enum(['stdout', 'stderr']),
  offset: z.number().int().describe("Byte offset of data's first byte in the run's combined output (stdout and stderr together)"),
  data: z.string(),
});

export const historyEntrySchema = z.object({
  seq: z.number().int(),
  id: z.string(),
  language: z.string(),
  path: z.string().nullable(),
  code: z.string().nullable().describe('The first 4096 characters of the code run'),
  args: z.array(z.string()),
  cwd: z.string(),
  sandbox: z.boolean(),
  source,
  createdAt: z.number(),
  startedAt: z.number().nullable(),
  finishedAt: z.number(),
  ...completionSchema.omit({ id: true, droppedBytes: true }).shape,
});
