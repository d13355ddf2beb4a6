import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compilePathRule, type Principal } from '../src/core/principal.js';
import type { Scope } from '../src/core/rpc/index.js';
import { startModelServer, type ModelServer, type ScriptedTurn } from './helpers/model-server.js';
import { connect, rpcError, startServer, type TestServer, type WsClient } from './helpers/server.js';

/** The agents.run.* events of one run, in arrival order. */
function runEvents(c: WsClient, runId: string): any[] {
  return c.events().filter((e) => e.topic.startsWith('agents.run.') && e.data.runId === runId);
}

function ended(c: WsClient, runId: string, timeoutMs = 30_000): Promise<any> {
  return c.waitFor(
    () => runEvents(c, runId).find((e) => e.topic === 'agents.run.completed' || e.topic === 'agents.run.failed'),
    timeoutMs,
    `run ${runId} to end`,
  );
}

/** The two-step fix: read app.py, write the fix, say so. */
const FIX_SCRIPT: ScriptedTurn[] = [
  { toolCalls: [{ name: 'files_read', arguments: { path: 'app.py' } }] },
  { toolCalls: [{ name: 'files_write', arguments: { path: 'app.py', content: "print('hi')\n" } }] },
  { text: 'Fixed the typo: pritn → print in app.py.' },
];

describe('agent frameworks and workflows (agents.run)', () => {
  let model: ModelServer | undefined;
  let s: TestServer | undefined;
  let watch: WsClient | undefined;

  async function setup(script: Parameters<typeof startModelServer>[0], agents: Record<string, unknown> = {}, authenticate?: (t: string | null | undefined) => Principal | undefined) {
    model = await startModelServer(script);
    s = await startServer({ agents: { baseUrl: model.baseUrl, apiKey: model.apiKey, model: 'scripted-model', ...agents } }, authenticate ? { authenticate } : {});
    writeFileSync(join(s.root, 'app.py'), "pritn('hi')\n");
    watch = await connect(s, { kind: 'browser', name: 'human' });
    await watch.call('events.subscribe', { patterns: ['agents.run.**', 'fs.**', 'connection.**'] });
    return { model, s, watch };
  }

  afterEach(async () => {
    await watch?.close();
    await s?.close();
    await model?.close();
    watch = s = model = undefined;
  });

  for (const workflow of ['fix-file', 'fix-file-graph']) {
    it(`${workflow}: reads the file with the error, writes the fix, streams agents.run.* in order, attributed to the agent`, async () => {
      const { model, s, watch } = await setup(FIX_SCRIPT);
      const { runId } = await watch.call('agents.run', { workflow, input: 'Fix the error in app.py' });
      const end = await ended(watch, runId);
      expect(end.topic, JSON.stringify(end.data)).toBe('agents.run.completed');
      expect(end.data.output).toContain('pritn → print');
      expect(readFileSync(join(s.root, 'app.py'), 'utf8')).toBe("print('hi')\n");

      const evs = runEvents(watch, runId);
      const kinds = evs.map((e) => e.topic.slice('agents.run.'.length) + (e.data.tool ? `:${e.data.tool}` : ''));
      // started → step → tool(read) → step → tool(write) → step → deltas… → completed, nothing else between
      const squashed = kinds.filter((k, i) => k !== 'message.delta' || kinds[i - 1] !== 'message.delta');
      expect(squashed).toEqual(['started', 'step', 'tool.called:files_read', 'step', 'tool.called:files_write', 'step', 'message.delta', 'completed']);
      expect(evs.filter((e) => e.topic === 'agents.run.message.delta').map((e) => e.data.delta).join('')).toBe('Fixed the typo: pritn → print in app.py.');
      const seqs = evs.map((e) => e.seq);
      expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
      const read = evs.find((e) => e.data.tool === 'files_read');
      // The paths the call names, from files.read's declaration ('' = undeclared: only unlimited principals see it).
      const declared = s.app.registry.get('files.read')!.paths ? ['app.py'] : [''];
      expect(read.data).toMatchObject({ ok: true, method: 'files.read', args: { path: 'app.py' }, paths: declared });
      expect(evs.every((e) => e.source.kind === 'agent' && e.source.name === workflow)).toBe(true);

      // The write's fs event is attributed to the agent run.
      const write = await watch.waitFor(
        () => watch.events().find((e) => e.topic.startsWith('fs.file.') && e.data.paths.includes('app.py') && e.source.kind === 'agent'),
        10_000,
        'fs event of the write',
      );
      expect(write.source.name).toBe(workflow);
      // The run is a collaborator: a connection of kind agent, named after the workflow, gone when it ends.
      const conn = (t: string) => watch.events().find((e) => e.topic === t && e.data.kind === 'agent' && e.data.name === workflow);
      expect(conn('connection.opened')?.data).toMatchObject({ transport: 'internal', id: write.source.connectionId });
      await watch.waitFor(() => conn('connection.closed'), 5000, 'the run connection to close');
      // …and what it did is in agents.activity under its name.
      let activity: any[] = [];
      await until(async () => {
        activity = (await watch.call('agents.activity', { agent: workflow })).entries;
        return activity.length >= 2;
      }, 'the run in agents.activity');
      expect(activity.map((a) => [a.method, a.outcome, a.transport])).toEqual([
        ['files.read', 'ok', 'internal'],
        ['files.write', 'ok', 'internal'],
      ]);

      // The real request path: streamed chat completions with our tools, the key sent, and the
      // tool results sent back to the model.
      expect(model.requests).toHaveLength(3);
      const first = model.requests[0]!;
      expect(first.body.model).toBe('scripted-model');
      expect(first.headers.authorization).toBe(`Bearer ${model.apiKey}`);
      expect(first.body.stream).toBe(true);
      const toolNames = first.body.tools.map((t: any) => t.function.name);
      expect(toolNames).toEqual(expect.arrayContaining(['files_read', 'files_write']));
      expect(first.body.tools.find((t: any) => t.function.name === 'files_write').function.parameters.properties.content).toBeTruthy();
      const toolMsgs = (i: number) => model.requests[i]!.body.messages.filter((m: any) => m.role === 'tool');
      expect(JSON.stringify(toolMsgs(1))).toContain("pritn('hi')");
      expect(toolMsgs(2)).toHaveLength(2);
      expect(JSON.stringify(toolMsgs(2)[1])).toContain('version');
    }, 60_000);
  }

  it('cancel mid-run aborts the model request: agents.run.failed (cancelled), no write', async () => {
    const { model, s, watch } = await setup([FIX_SCRIPT[0]!, { ...FIX_SCRIPT[1]!, delayMs: 60_000 }, FIX_SCRIPT[2]!]);
    const { runId } = await watch.call('agents.run', { workflow: 'fix-file', input: 'Fix app.py' });
    await model.waitForRequest(2);
    expect(await watch.call('agents.cancel', { runId })).toEqual({ cancelled: true });
    const end = await ended(watch, runId);
    expect(end.topic).toBe('agents.run.failed');
    expect(end.data).toMatchObject({ reason: 'cancelled', code: null });
    await until(() => model.requests[1]!.aborted, 'the model request to be aborted');
    expect(readFileSync(join(s.root, 'app.py'), 'utf8')).toBe("pritn('hi')\n");
    expect(model.requests).toHaveLength(2);
    expect(runEvents(watch, runId).some((e) => e.data.tool === 'files_write')).toBe(false);
    const again = await rpcError(watch.call('agents.cancel', { runId }));
    expect(again.data).toMatchObject({ runId });
    expect(again.message).toContain('No running workflow run');
  }, 60_000);

  it("revoking the caller's credential cancels its runs (the model request is aborted)", async (t) => {
    const { model, s, watch } = await setup(() => ({ text: 'slow', delayMs: 60_000 }));
    if (!s.app.registry.get('agents.tokens.create')) return t.skip(); // credentials land with the "credentials" slice
    const cred = await watch.call('agents.tokens.create', { name: 'runner', scopes: ['read', 'write', 'execute'] });
    const agent = await connect(s, { token: cred.token });
    const { runId } = await agent.call('agents.run', { workflow: 'fix-file', input: 'Fix app.py' });
    await model.waitForRequest(1);
    await watch.call('agents.tokens.revoke', { id: cred.id });
    const end = await ended(watch, runId);
    expect(end.data).toMatchObject({ reason: 'cancelled', code: null });
    expect(end.data.message).toMatch(/revoked/i);
    await until(() => model.requests[0]!.aborted, 'the model request to be aborted');
    expect(await agent.closed).toBe(4401);
  }, 60_000);

  it('a refused tool call goes back to the model as readable text, and the run still ends', async () => {
    const { model, watch } = await setup([
      { toolCalls: [{ name: 'files_write', arguments: { path: '../outside.py', content: 'x' } }] },
      { text: 'I may not write there.' },
    ]);
    const { runId } = await watch.call('agents.run', { workflow: 'fix-file', input: 'Write ../outside.py' });
    const end = await ended(watch, runId);
    expect(end.topic).toBe('agents.run.completed');
    const call = runEvents(watch, runId).find((e) => e.topic === 'agents.run.tool.called');
    expect(call.data).toMatchObject({ tool: 'files_write', ok: false, error: { code: 'PATH_OUTSIDE_WORKSPACE' } });
    const toolMsg = model.requests[1]!.body.messages.find((m: any) => m.role === 'tool');
    expect(toolMsg.content).toMatch(/^Error PATH_OUTSIDE_WORKSPACE: /);
  }, 60_000);

  it("tools are the caller's: a principal without 'write' is not offered files_write, and its run is attributed to it", async () => {
    const { model, s, watch } = await setup([{ text: 'Nothing to do.' }]);
    const principal: Principal = { id: 'agent:ro', kind: 'agent', name: 'reader', scopes: new Set<Scope>(['read', 'execute']) };
    const { runId } = (await s.app.dispatcher.call('agents.run', { workflow: 'fix-file', input: 'look' }, {
      connection: { id: 'c-ro', kind: 'agent', name: 'reader', transport: 'internal', principalId: principal.id, connectedAt: Date.now() },
      principal,
    })) as { runId: string };
    const end = await ended(watch, runId);
    expect(end.topic).toBe('agents.run.completed');
    const names = model.requests[0]!.body.tools.map((t: any) => t.function.name);
    expect(names).toContain('files_read');
    expect(names).not.toContain('files_write');
    // A caller without 'execute' may not start runs at all (the method's scope).
    const ro: Principal = { ...principal, scopes: new Set<Scope>(['read']) };
    const err: any = await s.app.dispatcher
      .call('agents.run', { workflow: 'fix-file', input: 'x' }, { connection: { id: 'c2', kind: 'agent', name: 'r', transport: 'internal', principalId: 'agent:r', connectedAt: 0 }, principal: ro })
      .catch((e: any) => e);
    expect(err.code).toBe('FORBIDDEN');
    expect(err.data).toMatchObject({ reason: 'scope', scope: 'execute', method: 'agents.run' });
  }, 60_000);

  for (const workflow of ['fix-file', 'fix-file-graph']) {
    it(`${workflow}: malformed tool arguments and an invented tool end the run cleanly; the server goes on`, async () => {
      const { s, watch } = await setup([
        { toolCalls: [{ name: 'files_read', arguments: '{"path": "app.py"' }] },
        { toolCalls: [{ name: 'no_such_tool', arguments: {} }] },
        { text: 'Giving up.' },
      ]);
      const { runId } = await watch.call('agents.run', { workflow, input: 'Fix app.py' });
      const end = await ended(watch, runId);
      // Either the model reads the errors and finishes, or the SDK refuses the answer (MODEL_ERROR):
      // never INTERNAL_ERROR, never a crash.
      if (end.topic === 'agents.run.failed') expect(end.data).toMatchObject({ reason: 'error', code: 'MODEL_ERROR' });
      else expect(end.data.output).toBe('Giving up.');
      expect((await watch.call('server.info', {})).pid).toBe(process.pid);
      expect(readFileSync(join(s.root, 'app.py'), 'utf8')).toBe("pritn('hi')\n");
    }, 60_000);
  }

  it('a path-limited caller: a read outside its paths goes back to the model as FORBIDDEN text', async (t) => {
    const { model, s, watch } = await setup([
      { toolCalls: [{ name: 'files_read', arguments: { path: 'app.py' } }] },
      { text: 'Not mine to read.' },
    ]);
    if (!s.app.registry.get('files.read')!.paths) return t.skip(); // path declarations land with the "paths" slice
    const principal: Principal = { id: 'agent:src', kind: 'agent', name: 'src-only', scopes: new Set<Scope>(['read', 'write', 'execute']), paths: compilePathRule(['src/**']) };
    const { runId } = (await s.app.dispatcher.call('agents.run', { workflow: 'fix-file-graph', input: 'Fix app.py' }, {
      connection: { id: 'c-src', kind: 'agent', name: 'src-only', transport: 'internal', principalId: principal.id, connectedAt: Date.now() },
      principal,
    })) as { runId: string };
    const end = await ended(watch, runId);
    expect(end.topic).toBe('agents.run.completed');
    const toolMsg = model.requests[1]!.body.messages.find((m: any) => m.role === 'tool');
    expect(toolMsg.content).toMatch(/^Error FORBIDDEN: /);
    expect(toolMsg.content).toContain('src/**');
  }, 60_000);

  it("a path-limited watcher receives a run's progress but no tool.called naming paths outside its limits", async () => {
    const limited: Principal = { id: 'agent:w', kind: 'agent', name: 'src-watcher', scopes: new Set<Scope>(['read']), paths: compilePathRule(['src/**']) };
    const { s, watch } = await setup(
      [
        { toolCalls: [{ name: 'files_read', arguments: { path: 'src/ok.py' } }] },
        { toolCalls: [{ name: 'files_read', arguments: { path: 'app.py' } }] },
        { text: 'Read both.' },
      ],
      {},
      (t) => (t === 'limited-token' ? limited : undefined),
    );
    mkdirSync(join(s.root, 'src'));
    writeFileSync(join(s.root, 'src', 'ok.py'), 'ok\n');
    const lw = await connect(s, { token: 'limited-token' });
    try {
      await lw.call('events.subscribe', { patterns: ['agents.run.**'] });
      const { runId } = await watch.call('agents.run', { workflow: 'fix-file', input: 'read' });
      await ended(watch, runId);
      // The kept history is filtered by the same rules (and is complete once the run has ended);
      // the live stream up to the reply as well.
      const history = await lw.call('events.history', { since: 0, patterns: ['agents.run.**'] });
      const kept = history.events.filter((e: any) => e.data.runId === runId).map((e: any) => e.topic);
      expect(kept).toContain('agents.run.started');
      expect(kept.filter((t: string) => t === 'agents.run.message.delta' || t === 'agents.run.completed')).toEqual([]);
      expect(kept.filter((t: string) => t === 'agents.run.tool.called')).toHaveLength(1);
      const seen = runEvents(lw, runId);
      expect(seen.filter((e) => e.topic === 'agents.run.tool.called').map((e) => e.data.args.path)).toEqual(['src/ok.py']);
      expect(runEvents(watch, runId).filter((e) => e.topic === 'agents.run.tool.called').map((e) => e.data.args.path)).toEqual(['src/ok.py', 'app.py']);
      // Progress without content reaches it; the model's text (which may quote app.py) does not.
      expect(seen.map((e) => e.topic)).toEqual(expect.arrayContaining(['agents.run.started', 'agents.run.step']));
      expect(seen.filter((e) => e.topic === 'agents.run.message.delta' || e.topic === 'agents.run.completed')).toEqual([]);
      const own = runEvents(watch, runId).find((e) => e.topic === 'agents.run.completed');
      expect(own.data.paths).toEqual(['src/ok.py', 'app.py']);
    } finally {
      await lw.close();
    }
  }, 60_000);

  it('the model endpoint answering an error → agents.run.failed MODEL_ERROR with its message', async () => {
    const { watch } = await setup([{ status: 500 }]);
    const { runId } = await watch.call('agents.run', { workflow: 'fix-file-graph', input: 'Fix app.py' });
    const end = await ended(watch, runId);
    expect(end.topic).toBe('agents.run.failed');
    expect(end.data).toMatchObject({ reason: 'error', code: 'MODEL_ERROR' });
    expect(end.data.message).toContain('HTTP 500');
    expect(end.data.data).toEqual({ status: 500, message: 'scripted failure 500' });
    expect(end.data.message).not.toContain(model!.apiKey);
  }, 60_000);

  it('an endpoint that cannot be reached → agents.run.failed MODEL_UNAVAILABLE', async () => {
    const { s: first } = await setup([]);
    const gone = model!.baseUrl;
    await watch!.close();
    await first.close();
    await model!.close();
    model = undefined;
    s = await startServer({ agents: { baseUrl: gone, apiKey: 'k' } });
    watch = await connect(s);
    await watch.call('events.subscribe', { patterns: ['agents.run.**'] });
    const { runId } = await watch.call('agents.run', { workflow: 'fix-file', input: 'x' });
    const end = await ended(watch, runId);
    expect(end.data).toMatchObject({ reason: 'error', code: 'MODEL_UNAVAILABLE' });
    expect(end.data.message).toContain(gone);
  }, 60_000);

  for (const workflow of ['fix-file', 'fix-file-graph']) {
    it(`${workflow}: maxTurns bounds the model requests of a run (LIMIT_EXCEEDED)`, async () => {
      const { model, watch } = await setup(() => ({ toolCalls: [{ name: 'files_stat', arguments: { path: 'app.py' } }] }), { maxTurns: 2 });
      const { runId } = await watch.call('agents.run', { workflow, input: 'loop' });
      const end = await ended(watch, runId);
      expect(end.data).toMatchObject({ reason: 'error', code: 'LIMIT_EXCEEDED' });
      expect(model.requests.length).toBeLessThanOrEqual(2);
    }, 60_000);
  }

  it('maxConcurrentRuns: one more run is LIMIT_EXCEEDED', async () => {
    const { model, watch } = await setup(() => ({ text: 'slow', delayMs: 60_000 }), { maxConcurrentRuns: 1 });
    const { runId } = await watch.call('agents.run', { workflow: 'fix-file', input: 'a' });
    const err = await rpcError(watch.call('agents.run', { workflow: 'fix-file', input: 'b' }));
    expect(err.code).toBe(-32008);
    expect(err.data).toMatchObject({ limit: "agents.maxConcurrentRuns", max: 1 });
    await model.waitForRequest(1);
    await watch.call('agents.cancel', { runId });
    await ended(watch, runId);
  }, 60_000);

  it('runTimeoutMs: a run that takes too long fails with TIMEOUT', async () => {
    const { watch } = await setup(() => ({ text: 'slow', delayMs: 60_000 }), { runTimeoutMs: 300 });
    const { runId } = await watch.call('agents.run', { workflow: 'fix-file', input: 'a' });
    const end = await ended(watch, runId);
    expect(end.data).toMatchObject({ reason: 'timeout', code: 'TIMEOUT' });
  }, 60_000);

  it('a workspace workflow in .icpy/agents/ is listed and runs with its own instructions and tools', async () => {
    const { model, s, watch } = await setup([{ text: 'Listed.' }]);
    mkdirSync(join(s.root, '.icpy', 'agents'), { recursive: true });
    writeFileSync(
      join(s.root, '.icpy', 'agents', 'lister.mjs'),
      "export default { name: 'lister', description: 'Lists the root', framework: 'langgraph', instructions: 'List the workspace root with files_list.', tools: ['files_list'] };\n",
    );
    writeFileSync(join(s.root, '.icpy', 'agents', 'broken.mjs'), 'export default { name: 42 };\n');
    writeFileSync(join(s.root, '.icpy', 'agents', 'throws.mjs'), "throw new Error('no');\n");
    // Past MAX_WORKFLOW_FILE_BYTES: not loaded (never run).
    writeFileSync(join(s.root, '.icpy', 'agents', 'huge.mjs'), `globalThis.hugeRan = true; export default { name: 'huge', framework: 'langgraph', instructions: 'x' };\n//${'x'.repeat(64 * 1024)}\n`);
    const list = await watch.call('agents.workflows', {});
    expect(list.map((w: any) => [w.name, w.framework, w.from])).toEqual([
      ['fix-file', 'openai-agents', 'builtin'],
      ['fix-file-graph', 'langgraph', 'builtin'],
      ['lister', 'langgraph', 'workspace'],
    ]);
    expect(list[2].file).toBe('.icpy/agents/lister.mjs');
    expect((globalThis as any).hugeRan).toBeUndefined();
    const { runId } = await watch.call('agents.run', { workflow: 'lister', input: 'go' });
    const end = await ended(watch, runId);
    expect(end.topic).toBe('agents.run.completed');
    const body = model.requests[0]!.body;
    expect(body.tools.map((t: any) => t.function.name)).toEqual(['files_list']);
    expect(body.messages[0]).toMatchObject({ role: 'system', content: 'List the workspace root with files_list.' });
    const missing = await rpcError(watch.call('agents.run', { workflow: 'nope', input: 'x' }));
    expect(missing.code).toBe(-32071);
    expect(missing.data.available).toEqual(['fix-file', 'fix-file-graph', 'lister']);
  }, 60_000);
});

describe('agents.run without a model endpoint', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ agents: { baseUrl: '', apiKey: '' } });
  });
  afterAll(async () => {
    await s.close();
  });

  it('is MODEL_UNAVAILABLE, naming the setting', async () => {
    const { body } = await s.rpc({ jsonrpc: '2.0', id: 1, method: 'agents.run', params: { workflow: 'fix-file', input: 'x' } });
    expect(body.error.code).toBe(-32073);
    expect(body.error.message).toContain('ICPY_AGENTS_BASE_URL');
    expect(body.error.data).toMatchObject({ setting: "agents.baseUrl" });
  });
});

async function until(pred: () => unknown, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
