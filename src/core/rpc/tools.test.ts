import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { compilePathRule, ownerPrincipal, READ_ONLY_SCOPES } from '../principal.js';
import { defineMethod } from './method.js';
import { MethodRegistry } from './method-registry.js';
import { methodOfTool, toolsFor } from './tools.js';

function registry() {
  const r = new MethodRegistry();
  const m = (name: string, scope: 'read' | 'write', extra: object = {}) =>
    defineMethod({ name, description: `${name} does it`, params: z.object({ path: z.string() }), result: z.null(), scope, handler: () => null, ...extra });
  r.register(
    m('files.read', 'read', { paths: (p: { path: string }) => [{ field: 'path', path: p.path }] }),
    m('files.write', 'write', { paths: (p: { path: string }) => [{ field: 'path', path: p.path }] }),
    m('workspace.get', 'read'),
    m('events.subscribe', 'read', { requiresSession: true }),
  );
  return r;
}

describe('toolsFor', () => {
  it('derives tools from the registry with schemas and scope annotations, leaving socket-only methods out', () => {
    const tools = toolsFor(registry(), ownerPrincipal());
    expect(tools.map((t) => t.name)).toEqual(['files_read', 'files_write', 'workspace_get']);
    const read = tools[0]!;
    expect(read.inputSchema).toMatchObject({ type: 'object', properties: { path: { type: 'string' } } });
    expect(read.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false, idempotentHint: true });
    expect(tools[1]!.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true });
    expect(read.description).toContain("Needs the 'read' scope");
  });

  it('lists only what the principal may call', () => {
    const r = registry();
    const ro = { ...ownerPrincipal(READ_ONLY_SCOPES), id: 'agent:x', kind: 'agent' as const };
    expect(toolsFor(r, ro).map((t) => t.name)).toEqual(['files_read', 'workspace_get']);
    const limited = { ...ro, paths: compilePathRule(['src/**']) };
    expect(toolsFor(r, limited).map((t) => t.name)).toEqual(['files_read']);
    expect(methodOfTool(r, 'files_write')?.name).toBe('files.write');
    expect(methodOfTool(r, 'events_subscribe')).toBeUndefined();
  });
});
