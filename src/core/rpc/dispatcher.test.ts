import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { IcpyError } from '../errors.js';
import { ownerPrincipal, READ_ONLY_SCOPES } from '../principal.js';
import { Dispatcher, type CalledInfo } from './dispatcher.js';
import { defineMethod, type MethodContext } from './method.js';
import { MethodRegistry } from './method-registry.js';

const ctx = (kind: 'agent' | 'browser', scopes = ownerPrincipal().scopes): MethodContext => ({
  connection: { id: 'c1', kind, name: 'n', transport: 'ws', principalId: 'owner', connectedAt: 0 },
  principal: ownerPrincipal(scopes),
});

function setup() {
  const registry = new MethodRegistry();
  registry.register(
    defineMethod({ name: 't.echo', description: 'd', params: z.strictObject({ n: z.coerce.number() }), result: z.number(), scope: 'read', handler: (p) => p.n }),
    defineMethod({ name: 't.write', description: 'd', params: z.strictObject({}), result: z.null(), scope: 'write', handler: () => null }),
    defineMethod({ name: 't.fail', description: 'd', params: z.strictObject({}), result: z.null(), scope: 'read', handler: () => { throw new IcpyError('NOT_FOUND', 'gone'); } }),
  );
  return new Dispatcher(registry);
}

describe('Dispatcher.onDidCall', () => {
  it('sees successes (validated params), refusals and failures, only for the contexts it wants; a throwing listener changes nothing', async () => {
    const d = setup();
    const seen: CalledInfo[] = [];
    const sub = d.onDidCall((c) => seen.push(c), (c) => c.connection.kind === 'agent');
    d.onDidCall(() => {
      throw new Error('observer bug');
    });
    expect(await d.call('t.echo', { n: '4' }, ctx('agent'))).toBe(4);
    await expect(d.call('t.write', {}, ctx('agent', READ_ONLY_SCOPES))).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(d.call('t.fail', {}, ctx('agent'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(d.call('t.nope', {}, ctx('agent'))).rejects.toMatchObject({ code: 'METHOD_NOT_FOUND' });
    expect(await d.call('t.echo', { n: 1 }, ctx('browser'))).toBe(1);
    expect(seen.map((c) => [c.name, c.error instanceof IcpyError ? c.error.code : 'ok'])).toEqual([
      ['t.echo', 'ok'],
      ['t.write', 'FORBIDDEN'],
      ['t.fail', 'NOT_FOUND'],
      ['t.nope', 'METHOD_NOT_FOUND'],
    ]);
    expect(seen[0]!.params).toEqual({ n: 4 });
    expect(seen[0]!.ms).toBeGreaterThanOrEqual(0);
    sub.dispose();
    await d.call('t.echo', { n: 2 }, ctx('agent'));
    expect(seen).toHaveLength(4);
  });
});
