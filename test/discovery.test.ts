import SwaggerParser from '@apidevtools/swagger-parser';
import { parseOpenRPCDocument, validateOpenRPCDocument } from '@open-rpc/schema-utils-js';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';
import { generate as generateClient } from 'openapi-typescript-codegen';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MethodDefinition } from '../src/core/rpc/index.js';
import { schemaName } from '../src/transports/http/openapi.js';
import { connect, RpcError, startServer, type TestServer } from './helpers/server.js';

/**
 * The discovery documents as served (rpc.discover, /api/openapi.json) checked with stock tools:
 * every example against its own schemas, the JSON Schemas against what zod accepts, the OpenRPC
 * meta-schema, swagger-parser, and two client generators whose output must compile.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

let s: TestServer;
let openrpc: any;
let openapi: any;

beforeAll(async () => {
  s = await startServer();
  openrpc = await s.call('rpc.discover');
  const res = await fetch(`${s.url}/api/openapi.json`, { headers: { authorization: `Bearer ${s.token}` } });
  expect(res.status).toBe(200);
  openapi = await res.json();
});
afterAll(async () => {
  await s?.close();
});

// strict, except two style rules the if/then of files.search trips (required/type named in a subschema)
const ajv = new Ajv2020({ strict: true, strictTypes: false, strictRequired: false, allErrors: true });
const compiled = new Map<unknown, ValidateFunction>();
/** ajv (draft 2020-12) accepts `value` under `schema`; the errors when it does not. */
function jsonValidate(schema: object, value: unknown): { ok: boolean; errors: string } {
  let v = compiled.get(schema);
  if (!v) compiled.set(schema, (v = ajv.compile(schema)));
  const ok = v(value);
  return { ok, errors: ok ? '' : ajv.errorsText(v.errors) };
}

const methodOf = (name: string): MethodDefinition => s.app.registry.get(name)!;
const exampleParams = (ex: any) => Object.fromEntries(ex.params.map((p: any) => [p.name, p.value]));
const docMethod = (name: string) => openrpc.methods.find((m: any) => m.name === name);

describe('examples', () => {
  it('every method example carries params and a result that validate against its zod schemas and its emitted JSON Schema', () => {
    let count = 0;
    const failures: string[] = [];
    for (const m of openrpc.methods) {
      const def = methodOf(m.name);
      expect(m.examples?.length ?? 0).toBe(def.examples?.length ?? 0);
      for (const ex of m.examples ?? []) {
        count++;
        const params = exampleParams(ex);
        const at = `${m.name} ${ex.name}`;
        expect(ex.result, at).toBeDefined();
        const value = ex.result.value;
        const pz = def.params.safeParse(params);
        if (!pz.success) failures.push(`${at}: params (zod): ${pz.error.message}`);
        const rz = def.result.safeParse(value);
        if (!rz.success) failures.push(`${at}: result (zod): ${rz.error.message}`);
        const pj = jsonValidate(m['x-params-schema'], params);
        if (!pj.ok) failures.push(`${at}: params (JSON Schema): ${pj.errors}`);
        const rj = jsonValidate(m.result.schema, value);
        if (!rj.ok) failures.push(`${at}: result (JSON Schema): ${rj.errors}`);
        // the by-name content descriptors agree with the whole params schema
        for (const p of m.params) {
          if (p.name in params && !jsonValidate(p.schema, params[p.name]).ok) failures.push(`${at}: param ${p.name}`);
          if (p.required && !(p.name in params)) failures.push(`${at}: required param ${p.name} missing`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(count).toBeGreaterThanOrEqual(18);
  });

  it('OpenAPI carries the same examples on each method route, valid against its components schemas', () => {
    const failures: string[] = [];
    for (const def of s.app.registry.list()) {
      const post = openapi.paths[`/api/rpc/${def.name}`].post;
      const body = post.requestBody.content['application/json'];
      const ok = post.responses['200'].content['application/json'];
      const paramsSchema = openapi.components.schemas[schemaName(def.name, 'params')];
      const resultSchema = openapi.components.schemas[schemaName(def.name, 'result')];
      expect(body.schema).toEqual({ $ref: `#/components/schemas/${schemaName(def.name, 'params')}` });
      expect(ok.schema).toEqual({ $ref: `#/components/schemas/${schemaName(def.name, 'result')}` });
      expect(Object.keys(body.examples ?? {}).length).toBe(def.examples?.length ?? 0);
      for (const [name, ex] of Object.entries<any>(body.examples ?? {})) {
        if (!jsonValidate(paramsSchema, ex.value).ok) failures.push(`${def.name} ${name} params`);
        if (!jsonValidate(resultSchema, ok.examples[name].value).ok) failures.push(`${def.name} ${name} result`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('the /api/docs page shows each example with its params and result', async () => {
    const res = await fetch(`${s.url}/api/docs?token=${s.token}`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('example: next page');
    expect(html).toContain('&#34;method&#34;: &#34;files.search&#34;');
    expect(html).toContain('&#34;nextCursor&#34;: &#34;4f9c2a1b-7d3e:1&#34;');
  });

  it('icpy help METHOD prints each example call and its result', async () => {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ICPY_')) env[k] = v;
    const runtimeDir = mkdtempSync(join(tmpdir(), 'icpy-disc-rt-'));
    try {
      const child = spawn(process.execPath, [join(ROOT, 'bin', 'icpy.js'), 'help', 'files.search'], {
        env: { ...env, NO_COLOR: '1', ICPY_URL: s.url, ICPY_TOKEN: s.token, ICPY_RUNTIME_DIR: runtimeDir },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const code = await new Promise<number | null>((r) => child.on('close', r));
      expect(code, out).toBe(0);
      expect(out).toContain(`icpy call files.search '{"cursor":"4f9c2a1b-7d3e:1"}'`);
      expect(out).toMatch(/→ \{"results":\[\{"path":"src\/util.py"/);
    } finally {
      rmSync(runtimeDir, { recursive: true, force: true });
    }
  });
});

describe('declared params match accepted params', () => {
  /** Values to probe each method with: `{}`, its examples, and each example with one unknown field. */
  function probes(def: MethodDefinition): unknown[] {
    const out: unknown[] = [{}, { noSuchField: 1 }];
    for (const ex of def.examples ?? []) out.push(ex.params, { ...(ex.params as object), noSuchField: 1 });
    return out;
  }

  it('for every method, the JSON Schema accepts exactly what zod accepts ({}, the examples, unknown fields)', () => {
    const mismatches: string[] = [];
    for (const def of s.app.registry.list()) {
      const schema = docMethod(def.name)['x-params-schema'];
      for (const p of probes(def)) {
        const z = def.params.safeParse(p).success;
        const j = jsonValidate(schema, p).ok;
        if (z !== j) mismatches.push(`${def.name} ${JSON.stringify(p)}: zod ${z}, JSON Schema ${j}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('over a WebSocket, every method refuses {} with INVALID_PARAMS exactly when its JSON Schema does', async () => {
    const c = await connect(s);
    try {
      const mismatches: string[] = [];
      for (const def of s.app.registry.list()) {
        const declared = jsonValidate(docMethod(def.name)['x-params-schema'], {}).ok;
        // Only methods that accept {} run; on this fresh workspace those are reads.
        const refused = await c.call(def.name, {}).then(
          () => false,
          (e: RpcError) => e.code === -32602,
        );
        if (declared === refused) mismatches.push(`${def.name}: schema ${declared ? 'accepts' : 'refuses'} {}, server ${refused ? 'refuses' : 'accepts'} it`);
      }
      expect(mismatches).toEqual([]);
    } finally {
      await c.close();
    }
  });

  it('files.search: {} is invalid in the schema and on the wire; a cursor alone is valid; an empty query is invalid', async () => {
    const schema = docMethod('files.search')['x-params-schema'];
    const cases: [unknown, boolean][] = [
      [{}, false],
      [{ regex: true }, false],
      [{ query: '' }, false],
      [{ query: 'x' }, true],
      [{ cursor: 'abc:1' }, true],
      [{ query: 'x', cursor: 'abc:1' }, true],
    ];
    for (const [p, want] of cases) {
      expect(jsonValidate(schema, p).ok, JSON.stringify(p)).toBe(want);
      expect(methodOf('files.search').params.safeParse(p).success, JSON.stringify(p)).toBe(want);
    }
    const err = await s.call('files.search', {}).catch((e) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect(err).toMatchObject({ code: -32602, data: { code: 'INVALID_PARAMS', field: 'query' } });
  });

  it('an OpenAPI request body is required exactly when {} is not valid params', () => {
    for (const def of s.app.registry.list()) {
      const body = openapi.paths[`/api/rpc/${def.name}`].post.requestBody;
      expect(body.required, def.name).toBe(!def.params.safeParse({}).success);
    }
    expect(openapi.paths['/api/rpc/files.search'].post.requestBody.required).toBe(true);
    expect(openapi.paths['/api/rpc/server.info'].post.requestBody.required).toBe(false);
  });
});

describe('defaults', () => {
  const defaults: [method: string, param: string, value: unknown][] = [
    ['files.search', 'maxResults', 1000],
    ['files.search', 'pageSize', 200],
    ['files.search', 'regex', false],
    ['files.search', 'hidden', false],
    ['files.find', 'pageSize', 100],
    ['files.find', 'maxResults', 1000],
    ['files.list', 'limit', 1000],
    ['files.list', 'path', ''],
    ['files.read', 'encoding', 'auto'],
    ['files.read', 'offset', 0],
    ['files.write', 'encoding', 'utf8'],
    ['files.write', 'mkdirs', false],
    ['files.mkdir', 'recursive', true],
    ['files.delete', 'recursive', false],
    ['files.move', 'overwrite', false],
    ['files.copy', 'overwrite', false],
    ['workspace.openFile', 'activate', true],
    ['events.history', 'limit', 1000],
    ['terminal.attach', 'encoding', 'json'],
    ['terminal.attach', 'ack', false],
    ['terminal.run', 'timeout', 30_000],
    ['terminal.run', 'cols', 120],
    ['terminal.run', 'rows', 30],
  ];

  it.each(defaults)('%s: %s defaults to %j in rpc.discover and OpenAPI, and is not required', (method, param, value) => {
    const m = docMethod(method);
    const p = m.params.find((x: any) => x.name === param);
    expect(p, `${method}.${param}`).toBeDefined();
    expect(p.schema.default).toEqual(value);
    expect(p.required).toBe(false);
    expect(m['x-params-schema'].required ?? []).not.toContain(param);
    const component = openapi.components.schemas[schemaName(method, 'params')];
    expect(component.properties[param].default).toEqual(value);
    expect(component.required ?? []).not.toContain(param);
  });
});

describe('stock tools accept the documents as served', () => {
  it('rpc.discover passes the OpenRPC meta-schema validator (@open-rpc/schema-utils-js), x-events included', async () => {
    expect(openrpc['x-events'].length).toBeGreaterThan(0);
    expect(validateOpenRPCDocument(structuredClone(openrpc))).toBe(true);
    // and the library's parser (dereference + validate), as OpenRPC tooling loads a document
    const parsed = await parseOpenRPCDocument(structuredClone(openrpc));
    expect(parsed.methods).toHaveLength(openrpc.methods.length);
    // the validator is live: a method without a name is refused
    const broken = structuredClone(openrpc);
    delete broken.methods[0].name;
    expect(validateOpenRPCDocument(broken)).not.toBe(true);
  });

  it('/api/openapi.json passes swagger-parser and references shared schemas only under components/schemas', async () => {
    await SwaggerParser.validate(structuredClone(openapi));
    const refs = [...JSON.stringify(openapi).matchAll(/"\$ref":"([^"]*)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(0);
    expect(refs.filter((r) => !r.startsWith('#/components/schemas/'))).toEqual([]);
    for (const r of refs) expect(openapi.components.schemas[r.slice('#/components/schemas/'.length)], r).toBeDefined();
    const stat = openapi.paths['/api/files/{path}'].get.responses['200'].content['application/json'].schema;
    expect(stat).toEqual({ $ref: `#/components/schemas/${schemaName('files.stat', 'result')}` });
    const rest = openapi.paths['/api/files/{path}'];
    expect(rest.put.responses['201'].content['application/json'].schema).toEqual({ $ref: `#/components/schemas/${schemaName('files.write', 'result')}` });
    expect(rest.delete.responses['200'].content['application/json'].schema).toEqual({ $ref: `#/components/schemas/${schemaName('files.delete', 'result')}` });
  });

  describe('client generators', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'icpy-openapi-gen-'));
    });
    afterAll(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    /** Type-check `files` (strict); the diagnostics as text, '' when clean. */
    function typeCheck(files: string[]): string {
      const program = ts.createProgram(files, {
        strict: true,
        noEmit: true,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ESNext,
        moduleResolution: ts.ModuleResolutionKind.Bundler,
        lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
        types: [],
      });
      return ts
        .getPreEmitDiagnostics(program)
        .map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`)
        .join('\n');
    }

    it('openapi-typescript generates types that compile, and typed calls use them', async () => {
      // defaultNonNullable: false, because openapi-typescript otherwise types a property with a
      // default as always present, which is right for results but not for params (see docs/protocol.md).
      const types = astToString(await openapiTS(structuredClone(openapi), { defaultNonNullable: false }));
      writeFileSync(join(dir, 'icpy-api.ts'), types);
      writeFileSync(
        join(dir, 'use-types.ts'),
        `import type { components, paths } from './icpy-api';
type Schemas = components['schemas'];
const search: Schemas['FilesSearchParams'] = { query: 'TODO' };
const next: paths['/api/rpc/files.search']['post']['requestBody'] = { content: { 'application/json': { cursor: 'abc:200' } } };
declare const stat: paths['/api/files/{path}']['get']['responses']['200']['content']['application/json'];
const version: string = stat.version;
declare const found: Schemas['FilesSearchResult'];
const line: number = found.results[0]!.line;
export { search, next, version, line };
`,
      );
      expect(typeCheck([join(dir, 'icpy-api.ts'), join(dir, 'use-types.ts')])).toBe('');
    }, 60_000);

    it('openapi-typescript-codegen generates a client that compiles, with typed methods', async () => {
      const out = join(dir, 'client');
      await generateClient({ input: structuredClone(openapi), output: out, httpClient: 'fetch' });
      writeFileSync(
        join(dir, 'use-client.ts'),
        `import { FilesService, DefaultService, type FilesSearchParams, type FilesStatResult } from './client';
const p: FilesSearchParams = { query: 'TODO' };
export async function demo(): Promise<string> {
  const r = await FilesService.filesSearch(p);
  const st: FilesStatResult | unknown = await DefaultService.filesGet('README.md');
  return 'results' in r ? String(r.total) + String(st) : '';
}
`,
      );
      expect(typeCheck([join(out, 'index.ts'), join(dir, 'use-client.ts')])).toBe('');
    }, 60_000);
  });
});
