import { expect } from 'vitest';
import type { WsClient } from './server.js';

/** One exec.output event's data. */
export interface Output {
  id: string;
  stream: 'stdout' | 'stderr';
  offset: number;
  data: string;
}

/** Concatenate outputs, asserting each starts where the previous ended (no gap, no duplicate). */
export function joinOutputs(outs: Output[], from = 0): { text: string; end: number } {
  let expected = from;
  let text = '';
  for (const o of outs) {
    expect(o.offset, 'outputs must be contiguous').toBe(expected);
    text += o.data;
    expected += Buffer.byteLength(o.data);
  }
  return { text, end: expected };
}

/** The data of every event of `topic` for run `id` this client has seen. */
export function eventsOf(c: WsClient, topic: string, id: string): any[] {
  return c.events().filter((e) => e.topic === topic && e.data.id === id).map((e) => e.data);
}

/** The run's exec.completed event, once it arrives. */
export function completed(c: WsClient, id: string, timeoutMs = 20_000): Promise<any> {
  return c.waitFor(() => eventsOf(c, 'exec.completed', id)[0], timeoutMs, `exec.completed of ${id}`);
}
