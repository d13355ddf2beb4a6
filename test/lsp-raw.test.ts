import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createMessageConnection, type MessageConnection } from 'vscode-jsonrpc';
import { toSocket, WebSocketMessageReader, WebSocketMessageWriter } from 'vscode-ws-jsonrpc';
import { connect, startServer, type TestServer, type WsClient } from './helpers/server.js';
import { until } from './helpers/until.js';
import { provider } from './helpers/yjs.js';
import { offsetOf } from '../src/services/lsp/raw-text.js';

// Real language servers over real sockets: typescript-language-server takes a few seconds to start.
const SLOW = 120_000;

function lspUrl(s: TestServer, languageId: string, token: string | null = s.token): string {
  const u = new URL(s.url.replace(/^http/, 'ws') + '/api/lsp/' + languageId);
  if (token !== null) u.searchParams.set('token', token);
  return u.href;
}

/** A raw client as monaco-languageclient makes one: vscode-jsonrpc over vscode-ws-jsonrpc's socket wrapper. */
async function jsonrpcClient(s: TestServer): Promise<{ conn: MessageConnection; ws: WebSocket; diagnostics: any[] }> {
  const ws = new WebSocket(lspUrl(s, 'typescript'));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const socket = toSocket(ws as unknown as Parameters<typeof toSocket>[0]);
  const conn = createMessageConnection(new WebSocketMessageReader(socket), new WebSocketMessageWriter(socket));
  const diagnostics: any[] = [];
  conn.onNotification('textDocument/publishDiagnostics', (p) => void diagnostics.push(p));
  conn.listen();
  return { conn, ws, diagnostics };
}

/** A raw client speaking plain frames (one JSON-RPC message each) through the test's WsClient. */
function rawClient(s: TestServer, languageId = 'typescript'): Promise<WsClient> {
  return connect({ wsUrl: s.url.replace(/^http/, 'ws') + '/api/lsp/' + languageId, token: s.token });
}

async function closeWs(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return;
  await new Promise<void>((resolve) => {
    ws.once('close', () => resolve());
    ws.close();
  });
}

function labels(result: any): string[] {
  const items = Array.isArray(result) ? result : (result?.items ?? []);
  return items.map((i: any) => i.label);
}

describe('WS /api/lsp/{languageId}: raw LSP multiplexed onto the shared server', () => {
  let s: TestServer;
  let uriA: string;
  let uriB: string;

  beforeAll(async () => {
    s = await startServer({});
    writeFileSync(join(s.root, 'a.ts'), 'export const n: number = 1;\n');
    writeFileSync(join(s.root, 'b.ts'), 'export const m = 2;\n');
    uriA = pathToFileURL(join(s.root, 'a.ts')).href;
    uriB = pathToFileURL(join(s.root, 'b.ts')).href;
  }, SLOW);

  afterAll(async () => {
    await s?.close();
  }, SLOW);

  it(
    'a vscode-jsonrpc client completes initialize/didOpen/completion, while a second raw client and lsp.completion use the same server',
    async () => {
      const a = await jsonrpcClient(s);
      const b = await rawClient(s);
      const rpc = await connect(s);
      try {
        const init: any = await a.conn.sendRequest('initialize', { processId: null, rootUri: pathToFileURL(s.root).href, capabilities: {} });
        expect(init.capabilities.completionProvider).toBeDefined();
        expect(init.capabilities.textDocumentSync).toEqual({ openClose: true, change: 2 });
        await a.conn.sendNotification('initialized', {});
        // The editor shows unsaved text: the live document becomes it.
        const text = 'export const n: number = 1;\nconsole.';
        await a.conn.sendNotification('textDocument/didOpen', { textDocument: { uri: uriA, languageId: 'typescript', version: 1, text } });
        const completion = await a.conn.sendRequest('textDocument/completion', { textDocument: { uri: uriA }, position: { line: 1, character: 8 } });
        expect(labels(completion)).toContain('log');

        // A second raw client, which never opened a.ts, sees the same live text through the same server.
        const binit = await b.call('initialize', { processId: null, rootUri: null, capabilities: {} });
        expect(binit.capabilities).toEqual(init.capabilities);
        b.send({ jsonrpc: '2.0', method: 'initialized', params: {} });
        expect(labels(await b.call('textDocument/completion', { textDocument: { uri: uriA }, position: { line: 1, character: 8 } }))).toContain('log');

        // And so do the RPC methods.
        const viaRpc = await rpc.call('lsp.completion', { path: 'a.ts', position: { line: 1, character: 8 } });
        expect(labels(viaRpc)).toContain('log');
        const ts = (await rpc.call('lsp.status', {})).servers?.filter?.((x: any) => x.languageId === 'typescript') ?? (await rpc.call('lsp.status', {})).filter((x: any) => x.languageId === 'typescript');
        expect(ts).toHaveLength(1);
        expect(ts[0].pid).toBeGreaterThan(0);

        // The live document holds the editor's text (unsaved edits included).
        expect((await rpc.call('docs.get', { path: 'a.ts' })).text).toBe(text);
      } finally {
        a.conn.dispose();
        await closeWs(a.ws);
        await b.close();
        await rpc.close();
      }
    },
    SLOW,
  );

  it(
    "a raw client's didChange reaches a y-websocket provider, and a provider's edit reaches the raw client's diagnostics",
    async () => {
      const a = await jsonrpcClient(s);
      const y = provider(s, 'b.ts');
      try {
        await y.synced();
        await a.conn.sendRequest('initialize', { processId: null, rootUri: null, capabilities: {} });
        await a.conn.sendNotification('initialized', {});
        await a.conn.sendNotification('textDocument/didOpen', { textDocument: { uri: uriB, languageId: 'typescript', version: 1, text: 'export const m = 2;\n' } });
        // Two sequential changes in one didChange: the second range is in the text the first made.
        await a.conn.sendNotification('textDocument/didChange', {
          textDocument: { uri: uriB, version: 2 },
          contentChanges: [
            { range: { start: { line: 1, character: 0 }, end: { line: 1, character: 0 } }, text: 'let k = 3;\n' },
            { range: { start: { line: 2, character: 0 }, end: { line: 2, character: 0 } }, text: 'k++;\n' },
          ],
        });
        await until(() => y.text.toString() === 'export const m = 2;\nlet k = 3;\nk++;\n', 'the raw edit in the provider');

        // The provider types a type error on line 3: the raw client gets it as a diagnostic.
        y.doc.transact(() => y.text.insert(y.text.length, 'const s: string = 1;\n'));
        const diag = await until(
          () => a.diagnostics.find((d) => d.uri === uriB && d.diagnostics.some((x: any) => x.range.start.line === 3)),
          'a diagnostic for the provider edit',
          60_000,
        );
        expect(diag.diagnostics.find((x: any) => x.range.start.line === 3).message).toMatch(/not assignable/);
      } finally {
        y.destroy();
        a.conn.dispose();
        await closeWs(a.ws);
      }
    },
    SLOW,
  );

  it(
    "a raw client declaring workspace.applyEdit is sent a provider's insert as workspace/applyEdit; its echo is not applied twice",
    async () => {
      writeFileSync(join(s.root, 'c.ts'), 'export const c = 1;\n');
      const uriC = pathToFileURL(join(s.root, 'c.ts')).href;
      const a = await jsonrpcClient(s);
      const y = provider(s, 'c.ts');
      const rpc = await connect(s);
      // The client's buffer, as an editor keeps it: applies pushed edits, then reports them as didChange.
      let text = 'export const c = 1;\n';
      let version = 1;
      const pushes: any[] = [];
      a.conn.onRequest('workspace/applyEdit', async (p: any) => {
        pushes.push(p);
        const change = p.edit.documentChanges[0];
        if (change.textDocument.uri !== uriC || change.textDocument.version !== version) return { applied: false };
        const contentChanges = [...change.edits]
          .sort((x: any, z: any) => offsetOf(text, z.range.start) - offsetOf(text, x.range.start))
          .map((e: any) => ({ range: e.range, text: e.newText ?? e.text }));
        for (const c of contentChanges) text = text.slice(0, offsetOf(text, c.range.start)) + c.text + text.slice(offsetOf(text, c.range.end));
        version++;
        await a.conn.sendNotification('textDocument/didChange', { textDocument: { uri: uriC, version }, contentChanges });
        return { applied: true };
      });
      try {
        await y.synced();
        await a.conn.sendRequest('initialize', { processId: null, rootUri: null, capabilities: { workspace: { applyEdit: true } } });
        await a.conn.sendNotification('initialized', {});
        await a.conn.sendNotification('textDocument/didOpen', { textDocument: { uri: uriC, languageId: 'typescript', version, text } });
        await until(() => y.text.toString() === text && text !== '', 'the provider synced');

        y.doc.transact(() => y.text.insert(y.text.length, 'const d = 2;\n'));
        const expected = 'export const c = 1;\nconst d = 2;\n';
        await until(() => text === expected, 'the push in the raw client');
        expect(pushes[0].edit.documentChanges[0].textDocument).toEqual({ uri: uriC, version: 1 });
        expect(pushes[0].edit.documentChanges[0].edits).toEqual([{ range: { start: { line: 1, character: 0 }, end: { line: 1, character: 0 } }, newText: 'const d = 2;\n' }]);
        // The echo settles: live, provider and client agree (nothing doubled).
        await until(async () => (await rpc.call('docs.get', { path: 'c.ts' })).text === expected && y.text.toString() === expected, 'everyone agrees');
        await new Promise((r) => setTimeout(r, 100));
        expect((await rpc.call('docs.get', { path: 'c.ts' })).text).toBe(expected);
        expect(y.text.toString()).toBe(expected);
        expect(text).toBe(expected);
        expect(pushes).toHaveLength(1);

        // One more raw change lands where the client put it.
        version++;
        await a.conn.sendNotification('textDocument/didChange', {
          textDocument: { uri: uriC, version },
          contentChanges: [{ range: { start: { line: 2, character: 0 }, end: { line: 2, character: 0 } }, text: 'd;\n' }],
        });
        text += 'd;\n';
        await until(() => y.text.toString() === text, 'the raw edit after the push in the provider');
        expect((await rpc.call('docs.get', { path: 'c.ts' })).text).toBe('export const c = 1;\nconst d = 2;\nd;\n');
        expect(pushes).toHaveLength(1);
      } finally {
        y.destroy();
        a.conn.dispose();
        await closeWs(a.ws);
        await rpc.close();
      }
    },
    SLOW,
  );

  it(
    'a raw client without workspace.applyEdit is sent no request when others edit its document',
    async () => {
      writeFileSync(join(s.root, 'e.ts'), 'export const e = 1;\n');
      const uriE = pathToFileURL(join(s.root, 'e.ts')).href;
      const c = await rawClient(s);
      const rpc = await connect(s);
      try {
        await c.call('initialize', { processId: null, rootUri: null, capabilities: {} });
        c.send({ jsonrpc: '2.0', method: 'textDocument/didOpen', params: { textDocument: { uri: uriE, languageId: 'typescript', version: 1, text: 'export const e = 1;\n' } } });
        // Answered after the didOpen reached the live document.
        await c.call('textDocument/hover', { textDocument: { uri: uriE }, position: { line: 0, character: 14 } });
        await rpc.call('docs.applyEdits', { path: 'e.ts', edits: [{ range: { start: { line: 1, character: 0 }, end: { line: 1, character: 0 } }, text: 'e;\n' }] });
        expect((await rpc.call('docs.get', { path: 'e.ts' })).text).toBe('export const e = 1;\ne;\n');
        await new Promise((r) => setTimeout(r, 200));
        expect(c.notifications.filter((n: any) => n.method === 'workspace/applyEdit')).toEqual([]);
      } finally {
        await c.close();
        await rpc.close();
      }
    },
    SLOW,
  );

  it(
    'answers bad JSON with -32700, requests before initialize with -32002, cancels on $/cancelRequest, and bounds in-flight requests with -32008',
    async () => {
      const c = await rawClient(s);
      try {
        c.send('{not json');
        const parse = await c.waitFor(() => c.notifications.find((n: any) => n.method === '(response)' && n.params.error?.code === -32700), 5000, 'parse error');
        expect(parse.params.id).toBeNull();
        await expect(c.call('textDocument/hover', {})).rejects.toMatchObject({ code: -32002 });
        await c.call('initialize', { processId: null, rootUri: null, capabilities: {} });

        const params = { textDocument: { uri: uriA }, position: { line: 0, character: 1 } };
        const inflight = s.app.config.lsp.maxInflightPerClient;
        const calls = Array.from({ length: inflight + 3 }, () => c.call('textDocument/hover', params).then(() => 'ok', (e) => e.code));
        const results = await Promise.all(calls);
        expect(results.filter((r) => r === -32008)).toHaveLength(3);
        expect(results.slice(0, inflight).every((r) => r === 'ok')).toBe(true);

        c.send({ jsonrpc: '2.0', id: 'slow', method: 'textDocument/hover', params });
        c.send({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 'slow' } });
        const cancelled = await c.waitFor(() => c.notifications.find((n: any) => n.params?.id === 'slow'), 10_000, 'the cancelled answer');
        expect(cancelled.params.error.code).toBe(-32800);

        // shutdown answers null; exit closes only this client (1000).
        expect(await c.call('shutdown')).toBeNull();
        c.send({ jsonrpc: '2.0', method: 'exit' });
        expect(await c.closed).toBe(1000);
      } finally {
        await c.close();
      }
    },
    SLOW,
  );

  it('refuses a wrong token (4401), a foreign Origin (403) and an unknown language (4404)', async () => {
    const bad = new WebSocket(lspUrl(s, 'typescript', 'wrong'));
    expect(await new Promise<number>((resolve) => bad.once('close', (code) => resolve(code)))).toBe(4401);
    const foreign = connect({ wsUrl: s.url.replace(/^http/, 'ws') + '/api/lsp/typescript', token: s.token }, { headers: { origin: 'https://evil.example' } });
    await expect(foreign).rejects.toMatchObject({ status: 403 });
    const unknown = await rawClient(s, 'cobol');
    expect(await unknown.closed).toBe(4404);
    const binary = await rawClient(s);
    binary.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect(await binary.closed).toBe(1003);
  });
});
