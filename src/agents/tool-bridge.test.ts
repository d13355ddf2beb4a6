import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { IcpyError } from '../core/errors.js';
import { compilePathRule, ownerPrincipal, READ_ONLY_SCOPES, type Principal } from '../core/principal.js';
import { defineMethod, Dispatcher, MethodRegistry, type MethodContext } from '../core/rpc/index.js';
import { MAX_TOOL_OUTPUT_CHARS, ToolBridge, type ToolCallReport } from './tool-bridge.js';

function setup(principal: Principal, allow?: string[], signal = new AbortController().signal) {
  const r = new MethodRegistry();
  const withPath = { paths: (p: { path: string }) => [{ field: 'path', path: p.path }] };
  r.register(
    defineMethod({ name: 'files.read', description: 'read', params: z.strictObject({ path: z.string() }), result: z.any(), scope: 'read', ...withPath, handler: (p) => ({ content: p.path === 'big' ? 'x'.repeat(MAX_TOOL_OUTPUT_CHARS + 10) : 'hi' }) }),
    defineMethod({ name: 'files.write', description: 'write', params: z.strictObject({ path: z.string() }), result: z.any(), scope: 'write', ...withPath, handler: () => { throw new IcpyError('VERSION_CONFLICT', 'file changed', { currentVersion: 'v2' }); } }),
    defineMethod({ name: 'agents.run', description: 'run', params: z.strictObject({}), result: z.any(), scope: 'execute', pathFree: true, handler: () => ({}) }),
    defineMethod({ name: 'server.info', description: 'info', params: z.strictObject({}), result: z.any(), scope: 'read', pathFree: true, handler: () => { throw new Error('boom'); } }),
  );
  const reports: ToolCallReport[] = [];
  const internal: unknown[] = [];
  const dispatcher = new Dispatcher(r, { onInternalError: (e) => internal.push(e) });
  const ctx: MethodContext = { connection: { id: 'c', kind: 'agent', name: 'wf', transport: 'internal', principalId: principal.id, connectedAt: 0 }, principal, signal };
  return { bridge: new ToolBridge(r, dispatcher, ctx, allow, (x) => reports.push(x)), reports, internal };
}

describe('ToolBridge', () => {
  it("offers the principal's tools, filtered to the workflow's list", () => {
    expect(setup(ownerPrincipal()).bridge.specs.map((t) => t.name)).toEqual(['files_read', 'files_write', 'server_info']);
    expect(setup(ownerPrincipal(READ_ONLY_SCOPES)).bridge.specs.map((t) => t.name)).toEqual(['files_read', 'server_info']);
    expect(setup(ownerPrincipal(), ['files_write']).bridge.specs.map((t) => t.name)).toEqual(['files_write']);
    // A run starts runs only when its workflow lists agents_run.
    expect(setup(ownerPrincipal(), ['agents_run', 'files_read']).bridge.specs.map((t) => t.name)).toEqual(['agents_run', 'files_read']);
  });

  it('answers results as JSON text (cut past the bound), errors as readable text, and reports each call with its paths', async () => {
    const { bridge, reports, internal } = setup(ownerPrincipal());
    expect(await bridge.call('files_read', { path: 'a.py' })).toBe('{"content":"hi"}');
    expect(await bridge.call('files_read', '{"path":"big"}')).toMatch(/… \[cut: \d+ more characters; read a smaller range\]$/);
    expect(await bridge.call('files_write', { path: 'a.py' })).toBe('Error VERSION_CONFLICT: file changed. Details: {"currentVersion":"v2"}');
    expect(await bridge.call('files_read', { nope: 1 })).toMatch(/^Error INVALID_PARAMS: /);
    expect(await bridge.call('server_info', {})).toBe('Error INTERNAL_ERROR: the tool failed inside icpy (logged on the server).');
    expect(internal).toHaveLength(1);
    expect(await bridge.call('made_up', {})).toBe("Error: there is no tool 'made_up' for you. Your tools: files_read, files_write, server_info.");
    expect(reports.map((r) => [r.tool, r.ok, r.error?.code, r.paths])).toEqual([
      ['files_read', true, undefined, ['a.py']],
      ['files_read', true, undefined, ['big']],
      ['files_write', false, 'VERSION_CONFLICT', ['a.py']],
      ['files_read', false, 'INVALID_PARAMS', ['']],
      ['server_info', false, 'INTERNAL_ERROR', []],
      ['made_up', false, 'METHOD_NOT_FOUND', ['']],
    ]);
  });

  it('a path-limited principal is refused outside its paths, as text naming its limits', async () => {
    const p: Principal = { id: 'agent:l', kind: 'agent', name: 'lim', scopes: READ_ONLY_SCOPES, paths: compilePathRule(['src/**']) };
    const { bridge } = setup(p);
    const text = await bridge.call('files_read', { path: 'secret.txt' });
    expect(text).toMatch(/^Error FORBIDDEN: /);
    expect(text).toContain('src/**');
  });

  it('throws (does not call) once the run is aborted', async () => {
    const ac = new AbortController();
    const { bridge, reports } = setup(ownerPrincipal(), undefined, ac.signal);
    ac.abort(new Error('cancelled'));
    await expect(bridge.call('files_read', { path: 'a' })).rejects.toThrow('cancelled');
    expect(reports).toHaveLength(0);
  });
});
