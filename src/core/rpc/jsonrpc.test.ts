import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Dispatcher } from './dispatcher.js';
import { handleJsonRpc, handleJsonRpcText } from './jsonrpc.js';
import { defineMethod, type MethodContext } from './method.js';
import { MethodRegistry } from './method-registry.js';

/** Replies are text or, when large, UTF-8 bytes. */
const parse = (t: string | readonly Buffer[] | undefined): any => JSON.parse(typeof t === 'string' || t === undefined ? String(t) : Buffer.concat(t).toString('utf8'));

const ctx: MethodContext = {
  connection: { id: 'c-test', kind: 'cli', name: 'test', transport: 'internal', principalId: 'test', connectedAt: 0 },
  principal: { id: 'test', kind: 'agent', name: 'test', scopes: new Set(['read']) },
};

function setup() {
  const registry = new MethodRegistry();
  const seen: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  registry.register(
    defineMethod({
      name: 'test.size',
      description: 'n characters',
      params: z.strictObject({ n: z.number(), i: z.number().optional() }),
      result: z.string(),
      scope: 'read',
      handler: async ({ n, i }) => {
        seen.push(i ?? -1);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setTimeout(r, 1));
        inFlight--;
        return 'x'.repeat(n);
      },
    }),
  );
  return { dispatcher: new Dispatcher(registry), seen, maxInFlight: () => maxInFlight };
}

const call = (id: number, n: number) => ({ jsonrpc: '2.0', id, method: 'test.size', params: { n, i: id } });

describe('JSON-RPC codec limits', () => {
  it('returns encoded text; a batch over maxBatchLength is one LIMIT_EXCEEDED error with id null', async () => {
    const { dispatcher, seen } = setup();
    const text = await handleJsonRpc(dispatcher, [call(1, 1), call(2, 1), call(3, 1)], ctx, { maxBatchLength: 2 });
    expect(parse(text!)).toMatchObject({ id: null, error: { code: -32008, data: { limit: 'maxBatchLength', max: 2 } } });
    expect(seen).toEqual([]);
    expect(parse((await handleJsonRpcText(dispatcher, '[', ctx))!)).toMatchObject({ error: { code: -32700 } });
  });

  it('runs at most batchConcurrency elements at once, replying in request order', async () => {
    const { dispatcher, maxInFlight } = setup();
    const batch = Array.from({ length: 20 }, (_, i) => call(i, 1));
    const out = parse((await handleJsonRpc(dispatcher, batch, ctx, { batchConcurrency: 4 }))!);
    expect(out.map((r: any) => r.id)).toEqual(batch.map((b) => b.id));
    expect(maxInFlight()).toBe(4);
  });

  it('gives REPLY_TOO_LARGE to the element past the reply budget and runs no element after it', async () => {
    const { dispatcher, seen } = setup();
    const batch = Array.from({ length: 6 }, (_, i) => call(i, 400));
    const out = parse((await handleJsonRpc(dispatcher, batch, ctx, { batchConcurrency: 1, maxReplyBytes: 1500 }))!);
    expect(out.map((r: any) => (r.error ? r.error.data.code : 'ok'))).toEqual(['ok', 'ok', 'ok', 'REPLY_TOO_LARGE', 'REPLY_TOO_LARGE', 'REPLY_TOO_LARGE']);
    expect(seen).toEqual([0, 1, 2, 3]);
    const single = parse((await handleJsonRpc(dispatcher, call(9, 2000), ctx, { maxReplyBytes: 1500 }))!);
    expect(single).toMatchObject({ id: 9, error: { code: -32009, data: { code: 'REPLY_TOO_LARGE', limit: 'maxReplyBytes', max: 1500 } } });
  });
});
