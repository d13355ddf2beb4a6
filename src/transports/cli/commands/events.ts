import { CliError, ExitCode, RpcCallError, usageError } from '../cli-error.js';
import type { Command } from '../command.js';
import type { WsRpcClient } from '../ws-client.js';

/**
 * Follows the event stream over the WebSocket (events.subscribe) and prints each event as one
 * JSON object per line: {topic, seq, time, source, data}. Ends on SIGINT/SIGTERM, after --count
 * events, or when the server is gone for longer than --reconnect-timeout (exit 3); a dropped
 * connection is re-opened and the stream resumes after the last printed seq.
 */
export const eventsCommand: Command = {
  name: 'events',
  summary: 'follow events',
  usage: `Usage: icpy events [PATTERN…] [--since N] [--count N]

Follow the event stream: one JSON object per line {topic, seq, time, source, data}, flushed as
each event arrives. PATTERN is a dotted topic pattern ('*' = exactly one segment, '**' = any number);
default '**' (everything). Topics have several segments (workspace.layout.changed), so
'workspace.**' follows the workspace and 'workspace.*' matches nothing.
  --since N   first replay the kept events with seq > N, then follow (no gap, no duplicate);
              if N is older than the kept history: exit 1 with EVENTS_GAP and the oldest seq
  --count N   exit 0 after N events
  --reconnect-timeout S
              when the connection drops (or the server restarts), keep trying to reconnect for
              S seconds (default 30; 0 = give up at once), then resume after the last printed
              event; a restarted server's kept events are replayed. Notes go to stderr.
Examples:
  icpy events 'fs.**' 'workspace.**'
  icpy events --since 0 --count 10 | jq .topic`,
  options: { since: { type: 'string' }, count: { type: 'string' }, 'reconnect-timeout': { type: 'string' } },
  async run(ctx) {
    const patterns = ctx.positionals.length ? ctx.positionals : ['**'];
    const since = intOption(ctx.values.since, 'since', 0);
    const count = intOption(ctx.values.count, 'count', 1);
    const reconnectS = intOption(ctx.values['reconnect-timeout'], 'reconnect-timeout', 0) ?? 30;
    let printed = 0;
    let lastSeq = since ?? -1;
    let finished = false;
    let epoch: string | undefined;
    let finish!: (code: number) => void;
    const done = new Promise<number>((resolve) => (finish = resolve));
    const stop = (code: number) => {
      finished = true;
      finish(code);
    };
    const note = (msg: string) => process.stderr.write(`icpy: ${msg}\n`);

    const onNotification = (ws: WsRpcClient) => (n: { method: string; params: any }) => {
      // A replay arrives as one burst: nothing more is printed once --count is reached.
      if (finished) return;
      if (n.method === 'event') {
        const ev = n.params as { subscription?: string; seq: number; topic: string };
        if (ev.seq <= lastSeq) return; // a resubscription may replay what was already printed
        lastSeq = ev.seq;
        const { subscription: _sub, ...rest } = ev;
        process.stdout.write(JSON.stringify(rest) + '\n');
        if (count !== undefined && ++printed >= count) stop(ExitCode.Ok);
      } else if (n.method === 'events.lagged') {
        // We fell behind; the server dropped the subscription. Pick up where we were.
        subscribe(ws, lastSeq, true).catch((err) => {
          note(`${err instanceof RpcCallError ? `${err.code}: ` : ''}${(err as Error).message}`);
          stop(ExitCode.CallFailed);
        });
      }
    };

    /**
     * Subscribe from `from`. When resuming (after a lag or a reconnect), a gap is not fatal: a
     * restarted server (seq ahead of its log) is replayed from its start, evicted history from
     * the oldest kept event, each with a note on stderr.
     */
    const subscribe = async (ws: WsRpcClient, from: number, resuming: boolean): Promise<void> => {
      try {
        await ws.call('events.subscribe', { patterns, ...(from >= 0 ? { since: from } : {}) });
      } catch (err) {
        if (!resuming || !(err instanceof RpcCallError) || err.code !== 'EVENTS_GAP') throw err;
        if (err.data?.reason === 'ahead') {
          note(`the server restarted (its event log began again); replaying its kept events`);
          lastSeq = 0;
          return subscribe(ws, 0, false);
        }
        const oldest = Number(err.data?.oldestSeq ?? 1);
        note(`events after seq ${from} up to ${oldest - 1} are no longer kept by the server and were missed; resuming from ${oldest}`);
        return subscribe(ws, oldest - 1, false);
      }
    };

    /** Wait for `ws` (already listening and subscribed) to drop, then reconnect and resume. */
    const follow = async (ws: WsRpcClient) => {
      await ws.closed;
      if (finished) return;
      // Dropped (network, server restart): reconnect and resume after the last printed seq.
      note(`connection lost; reconnecting (up to ${reconnectS} s)`);
      const deadline = Date.now() + reconnectS * 1000;
      while (!finished) {
        try {
          const next = await ctx.ws();
          next.onNotification(onNotification(next));
          // Seqs belong to one server run (epoch): after a restart, replay the new log from its start.
          const status = (await next.call('events.status')) as { epoch: string };
          if (epoch !== undefined && status.epoch !== epoch) {
            note('the server restarted (its event log began again); replaying its kept events');
            lastSeq = 0;
          }
          epoch = status.epoch;
          await subscribe(next, lastSeq, true);
          note('reconnected; resumed where the stream left off');
          void follow(next);
          return;
        } catch (err) {
          if (!(err instanceof CliError && err.exitCode === ExitCode.NoServer)) {
            note(`${err instanceof RpcCallError ? `${err.code}: ` : ''}${(err as Error).message}`);
            return stop(ExitCode.CallFailed);
          }
          if (Date.now() >= deadline) return stop(-1);
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    };

    const ws = await ctx.ws();
    // Listen before subscribing: a replay starts right after the reply.
    ws.onNotification(onNotification(ws));
    epoch = ((await ws.call('events.status')) as { epoch: string }).epoch;
    try {
      await subscribe(ws, since ?? -1, false);
    } catch (err) {
      if (err instanceof RpcCallError && err.code === 'EVENTS_GAP') {
        err.message += ` (oldest kept seq: ${String(err.data?.oldestSeq ?? '?')}; retry with --since ${String(err.data?.oldestSeq ?? 0)} or without --since)`;
      }
      if (err instanceof RpcCallError && err.code === 'INVALID_PARAMS') throw usageError(`events: ${err.message}`, eventsCommand.usage);
      throw err;
    }
    void follow(ws);
    const onSignal = () => stop(ExitCode.Ok);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    // stdout closed (e.g. `| head`): stop quietly.
    process.stdout.once('error', () => stop(ExitCode.Ok));
    const code = await done;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (code === -1) throw new CliError(ExitCode.NoServer, `the icpy server went away and did not come back within ${reconnectS} s`);
    return code;
  },
};

function intOption(v: unknown, name: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isInteger(n) || n < min) throw usageError(`events: --${name} must be an integer ≥ ${min}`, eventsCommand.usage);
  return n;
}
