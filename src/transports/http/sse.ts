import type { ServerResponse } from 'node:http';
import type { BrokerEvent, EventHandler, LagInfo, Subscription } from '../../core/broker/index.js';
import { encodeEvent } from '../../core/broker/index.js';
import type { Disposable } from '../../core/lifecycle.js';

export interface SseStreamOptions {
  /** Make the (paused) subscription: the `events.stream` operation, run by the Dispatcher. */
  subscribe(deliver: EventHandler, onLag: (info: LagInfo) => void): Promise<Subscription>;
  keepaliveMs: number;
  /** Unsent bytes above which delivery pauses until the response drains. */
  highWaterBytes: number;
}

/**
 * Pipe the event log to one Server-Sent Events response. Each event is `id: <seq>`,
 * `event: event`, `data: <event JSON>`. Rejects (EVENTS_GAP, bad patterns, FORBIDDEN) before
 * anything is written, so the caller can still answer with a status code.
 */
export async function openSseStream(res: ServerResponse, opts: SseStreamOptions): Promise<Disposable> {
  let sub: Subscription | undefined;
  const write = (ev: BrokerEvent): boolean => {
    res.write(`id: ${ev.seq}\nevent: event\ndata: ${encodeEvent(ev)}\n\n`);
    return res.writableLength < opts.highWaterBytes;
  };
  sub = await opts.subscribe(
    (ev) => {
      const ok = write(ev);
      if (!ok) res.once('drain', () => sub?.resume());
      return ok;
    },
    (info) => {
      res.write(`event: lagged\ndata: ${JSON.stringify({ lastDeliveredSeq: info.lastDeliveredSeq })}\n\n`);
      res.end();
    },
  );
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.write(`retry: 2000\n: subscribed ${sub.id}\n\n`);
  res.flushHeaders();
  sub.resume();
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), opts.keepaliveMs);
  keepalive.unref();
  let done = false;
  const dispose = () => {
    if (done) return;
    done = true;
    clearInterval(keepalive);
    sub?.dispose();
    if (!res.writableEnded) res.end();
  };
  res.once('close', dispose);
  return { dispose };
}
