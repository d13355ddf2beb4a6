import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineMethod, MethodRegistry } from '../../core/rpc/index.js';
import { buildOpenApi, schemaName } from './openapi.js';

const method = (name: string) =>
  defineMethod({ name, description: name, params: z.strictObject({}), result: z.null(), scope: 'read', handler: () => null });

describe('buildOpenApi components', () => {
  it('names a method schema in PascalCase + Params/Result', () => {
    expect(schemaName('files.stat', 'result')).toBe('FilesStatResult');
    expect(schemaName('workspace.openFile', 'params')).toBe('WorkspaceOpenFileParams');
  });

  it('two method names with one PascalCase name get distinct components, each path referencing its own', () => {
    const registry = new MethodRegistry();
    registry.register(method('a.bC'), method('aB.c'));
    const doc = buildOpenApi(registry, { title: 't', version: '1' }) as any;
    const refOf = (m: string) => doc.paths[`/api/rpc/${m}`].post.requestBody.content['application/json'].schema.$ref;
    expect(new Set([refOf('a.bC'), refOf('aB.c')])).toEqual(new Set(['#/components/schemas/ABCParams', '#/components/schemas/ABCParams2']));
  });
});
