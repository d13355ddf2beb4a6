import { z } from 'zod';
import { defineEvent } from '../../core/rpc/index.js';
import { terminalSchema } from './terminals.methods.js';

/**
 * The terminal events; `relativeCwd` turns a summary's cwd (absolute) into the workspace-relative
 * path the path limits compare (TerminalService.relativeCwd). Only terminal.created names a path;
 * the others are about a terminal id (execution is not confined by path limits).
 */
export const createTerminalEvents = (relativeCwd: (cwd: string) => string) => [
  defineEvent({
    topic: 'terminal.created',
    description: 'A terminal was started (by terminal.create or terminal.run); data is its summary.',
    data: terminalSchema,
    paths: (d) => [relativeCwd(d.cwd)],
  }),
  defineEvent({
    topic: 'terminal.exited',
    description: "A terminal's process exited. code is null when it was killed by a signal.",
    data: z.object({ id: z.string(), code: z.number().int().nullable(), signal: z.number().int().nullable() }),
    pathFree: true,
  }),
  defineEvent({
    topic: 'terminal.closed',
    description:
      'A terminal was closed and removed from terminal.list: closed by a client, idle timeout, reaped (exited longer ago than limits.exitedTerminalGraceMs), pruned (too many exited kept) or server shutdown.',
    data: z.object({ id: z.string(), reason: z.enum(['closed', 'idle', 'shutdown', 'pruned', 'reaped']) }),
    pathFree: true,
  }),
  defineEvent({
    topic: 'terminal.renamed',
    description: 'A terminal got a new display name.',
    data: z.object({ id: z.string(), name: z.string(), previous: z.string() }),
    pathFree: true,
  }),
  defineEvent({
    topic: 'terminal.resized',
    description: 'The PTY size changed (most recent active client wins).',
    data: z.object({ id: z.string(), cols: z.number().int(), rows: z.number().int() }),
    pathFree: true,
  }),
];
