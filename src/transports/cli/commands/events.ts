import { CliError, ExitCode, RpcCallError, usageError } from '../cli-error.js';
import type { Command } from '../command.js';

/**
 * Follows the event stream over the WebSocket (events.subscribe) and prints each event as one
 * JSON object per line: {topic, seq, time, source, data}. Ends on SIGINT/SIGTERM, after --count
 * events, or when the server goes away (exit 3).
 */
export const eventsCommand: Command = {
  name: 'events',
  summary: 'follow events',
  usage: `Usage: icpy events [PATTERN…] [--since N] [--count N]

Follow the event stream: one JSON object per line {topic, seq, time, source, data}, flushed as
each event arrives. PATTERN is a dotted topic pattern ('*' = one segment, '**' = any number);
default '**' (everything).
  --since N   first replay the kept events with seq > N, then follow (no gap, no duplicate);
              if N is older than the kept history: exit 1 with EVENTS_GAP and the oldest seq
  --count N   exit 0 after N events
Examples:
  icpy events 'fs.**' 'workspace.*'
  icpy events --since 0 --count 10 | jq .topic`,
  options: { since: { type: 'string' }, count: { type: 'string' } },
  async run(ctx) {
    const patterns = ctx.positionals.length ? ctx.positionals : ['**'];
    const since = intOption(ctx.values.since, 'since', 0);
    const count = intOption(ctx.values.count, 'count', 1);
    const ws = await ctx.ws();
    let printed = 0;
    let lastSeq = since ?? -1;
    let subscription: string | undefined;
    let finish!: (code: number) => void;
    const done = new Promise<number>((resolve) => (finish = resolve));

    const resubscribe = async (from: number) => {
      subscription = undefined;
      subscription = await ws.call('events.subscribe', { patterns, ...(from >= 0 ? { since: from } : {}) });
    };
    ws.onNotification((n) => {
      if (n.method === 'event') {
        const ev = n.params as { subscription?: string; seq: number; topic: string };
        if (ev.seq <= lastSeq) return; // a resubscription may replay what was already printed
        lastSeq = ev.seq;
        const { subscription: _sub, ...rest } = ev;
        process.stdout.write(JSON.stringify(rest) + '\n');
        if (count !== undefined && ++printed >= count) finish(ExitCode.Ok);
      } else if (n.method === 'events.lagged') {
        // We fell behind; the server dropped the subscription. Pick up where we were.
        resubscribe(lastSeq).catch((err) => {
          process.stderr.write(`icpy: ${err instanceof RpcCallError ? `${err.code}: ` : ''}${(err as Error).message}\n`);
          finish(ExitCode.CallFailed);
        });
      }
    });
    try {
      await resubscribe(since ?? -1);
    } catch (err) {
      if (err instanceof RpcCallError && err.code === 'EVENTS_GAP') {
        err.message += ` (oldest kept seq: ${String(err.data?.oldestSeq ?? '?')}; retry with --since ${String(err.data?.oldestSeq ?? 0)} or without --since)`;
      }
      if (err instanceof RpcCallError && err.code === 'INVALID_PARAMS') throw usageError(`events: ${err.message}`, eventsCommand.usage);
      throw err;
    }
    const onSignal = () => finish(ExitCode.Ok);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    // stdout closed (e.g. `| head`): stop quietly.
    process.stdout.once('error', () => finish(ExitCode.Ok));
    ws.closed.then(() => finish(-1));
    const code = await done;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (code === -1) throw new CliError(ExitCode.NoServer, 'the icpy server closed the connection');
    return code;
  },
};

function intOption(v: unknown, name: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isInteger(n) || n < min) throw usageError(`events: --${name} must be an integer ≥ ${min}`, eventsCommand.usage);
  return n;
}
