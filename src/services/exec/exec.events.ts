import { z } from 'zod';
import { defineEvent } from '../../core/rpc/index.js';
import { completionSchema, outputSchema } from './exec.schemas.js';

export const execEvents = [
  defineEvent({
    topic: 'exec.queued',
    description: 'A run waits for a free slot (maxConcurrentRuns); published again each time its position changes. position 1 starts next.',
    data: z.object({ id: z.string(), position: z.number().int() }),
    pathFree: true,
  }),
  defineEvent({
    topic: 'exec.started',
    description: "A run's process started (its own process group).",
    data: z.object({ id: z.string(), pid: z.number().int(), language: z.string(), path: z.string().nullable(), cwd: z.string(), sandbox: z.boolean() }),
    paths: (d) => [d.cwd, d.path ?? undefined],
  }),
  defineEvent({
    topic: 'exec.output',
    description:
      "Output of a run, in order, batched per event-loop turn. offset counts UTF-8 bytes over the run's combined output (stdout and stderr together), so consecutive events are contiguous: the next offset is offset + byteLength(data).",
    data: outputSchema,
    pathFree: true,
  }),
  defineEvent({
    topic: 'exec.completed',
    description: 'A run ended (exited, killed by a limit, timed out, cancelled or could not start). Every exec.output of the run precedes it.',
    data: completionSchema,
    pathFree: true,
  }),
];
