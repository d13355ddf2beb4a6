import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local OpenAI-compatible model endpoint for tests (issue 13): `POST /v1/chat/completions`,
 * streaming (SSE chunks, tool calls as `delta.tool_calls` fragments, `data: [DONE]`) and not.
 * It answers from a script — one turn per request, in order — and records every request, so a
 * test drives the real SDKs over real HTTP and asserts what they sent back (tool results).
 */
export interface ScriptedToolCall {
  name: string;
  /** Object (JSON-encoded for the wire) or the raw arguments string. */
  arguments: Record<string, unknown> | string;
}

export interface ScriptedTurn {
  /** Assistant text, streamed in a few pieces. */
  text?: string;
  toolCalls?: ScriptedToolCall[];
  /** Wait this long before answering (aborted requests stop waiting). */
  delayMs?: number;
  /** Answer with this HTTP error status (an OpenAI-style error body) instead. */
  status?: number;
}

export interface RecordedRequest {
  path: string;
  headers: IncomingMessage['headers'];
  body: any;
  /** The client went away before the answer was complete (an aborted request). */
  aborted: boolean;
}

export interface ModelServer {
  /** `http://127.0.0.1:PORT/v1` — what an OpenAI client takes as baseURL. */
  baseUrl: string;
  apiKey: string;
  requests: RecordedRequest[];
  /** Resolves when the n-th request (1-based) has arrived. */
  waitForRequest(n: number): Promise<RecordedRequest>;
  close(): Promise<void>;
}

export async function startModelServer(
  script: ScriptedTurn[] | ((req: RecordedRequest, index: number) => ScriptedTurn),
  options: { apiKey?: string } = {},
): Promise<ModelServer> {
  const apiKey = options.apiKey ?? 'sk-test-' + Math.random().toString(36).slice(2);
  const requests: RecordedRequest[] = [];
  const waiters: { n: number; resolve: (r: RecordedRequest) => void }[] = [];
  let callId = 0;

  const turnFor = (req: RecordedRequest, i: number): ScriptedTurn => {
    if (typeof script === 'function') return script(req, i);
    return script[i] ?? { text: 'Done.' };
  };

  const server: Server = createServer((req, res) => {
    void handle(req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: String(err), type: 'server_error' } }));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      return json(res, 401, { error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key' } });
    }
    const path = (req.url ?? '').split('?')[0]!;
    if (req.method !== 'POST' || !path.endsWith('/chat/completions')) {
      return json(res, 404, { error: { message: `No route ${req.method} ${path} (this test server speaks chat completions only)`, type: 'invalid_request_error' } });
    }
    const rec: RecordedRequest = { path, headers: req.headers, body: raw ? JSON.parse(raw) : {}, aborted: false };
    const index = requests.length;
    requests.push(rec);
    for (const w of waiters.filter((w) => w.n === requests.length)) w.resolve(rec);
    res.on('close', () => {
      if (!res.writableFinished) rec.aborted = true;
    });
    const turn = turnFor(rec, index);
    if (turn.delayMs) {
      const gone = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), turn.delayMs);
        res.once('close', () => {
          clearTimeout(t);
          resolve(true);
        });
      });
      if (gone) return;
    }
    if (turn.status) return json(res, turn.status, { error: { message: `scripted failure ${turn.status}`, type: 'server_error' } });
    const model = String(rec.body.model ?? 'test-model');
    const id = `chatcmpl-${index + 1}`;
    const created = Math.floor(Date.now() / 1000);
    const calls = (turn.toolCalls ?? []).map((c) => ({
      id: `call_${++callId}`,
      name: c.name,
      arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments),
    }));
    const finish = calls.length ? 'tool_calls' : 'stop';
    const usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };
    if (!rec.body.stream) {
      return json(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: turn.text ?? (calls.length ? null : ''),
              ...(calls.length ? { tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) } : {}),
            },
            finish_reason: finish,
          },
        ],
        usage,
      });
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (delta: unknown, finishReason: string | null = null, extra: object = {}) =>
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finishReason }], ...extra })}\n\n`);
    send({ role: 'assistant', content: '' });
    if (turn.text) for (const piece of pieces(turn.text, 3)) send({ content: piece });
    calls.forEach((c, i) => {
      send({ tool_calls: [{ index: i, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }] });
      for (const piece of pieces(c.arguments, 3)) send({ tool_calls: [{ index: i, function: { arguments: piece } }] });
    });
    send({}, finish);
    if (rec.body.stream_options?.include_usage) {
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage })}\n\n`);
    }
    res.end('data: [DONE]\n\n');
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    apiKey,
    requests,
    waitForRequest(n) {
      const have = requests[n - 1];
      if (have) return Promise.resolve(have);
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** Split into about `n` pieces (so fragments really are reassembled by the client). */
function pieces(s: string, n: number): string[] {
  if (s.length <= n) return [s];
  const size = Math.ceil(s.length / n);
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}
