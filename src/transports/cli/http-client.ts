import type { IncomingMessage, RequestOptions } from 'node:http';
import { CliError, ExitCode, noServerError, rpcErrorFrom } from './cli-error.js';
import type { ClientIdentity } from './client-identity.js';
import type { ServerTarget } from './discovery.js';

export interface RpcRequest {
  method: string;
  params?: unknown;
}

/** Settled outcome of one call in a batch. */
export type RpcOutcome = { ok: true; result: unknown } | { ok: false; error: ReturnType<typeof rpcErrorFrom> };

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EAI_AGAIN', 'ETIMEDOUT']);

/**
 * JSON-RPC over `POST /api/rpc`. Uses node:http rather than fetch: loading undici costs ~35 ms
 * of startup, which is most of the budget of a one-shot command like `icpy cat`.
 */
export class HttpRpcClient {
  private nextId = 1;

  constructor(
    readonly target: ServerTarget,
    private readonly identity: ClientIdentity,
  ) {}

  async call(method: string, params?: unknown): Promise<unknown> {
    const [outcome] = await this.batch([{ method, params }]);
    if (!outcome!.ok) throw outcome!.error;
    return outcome!.result;
  }

  /** Several calls in one round trip; each settles on its own. */
  async batch(calls: RpcRequest[]): Promise<RpcOutcome[]> {
    const ids = calls.map(() => this.nextId++);
    const body = JSON.stringify(calls.map((c, i) => ({ jsonrpc: '2.0', id: ids[i], method: c.method, params: c.params ?? {} })));
    const { status, text } = await this.post('/api/rpc', body);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new CliError(ExitCode.CallFailed, `server answered HTTP ${status} with a body that is not JSON`);
    }
    if (!Array.isArray(parsed)) {
      // Auth and transport failures come back as { error } with an HTTP status.
      const err = rpcErrorFrom((parsed as { error?: unknown }).error);
      if (status === 401) err.message += ' (check --token / ICPY_TOKEN)';
      throw err;
    }
    const byId = new Map<unknown, { result?: unknown; error?: unknown }>();
    for (const r of parsed as { id: unknown; result?: unknown; error?: unknown }[]) byId.set(r.id, r);
    return ids.map((id) => {
      const r = byId.get(id);
      if (!r) return { ok: false, error: rpcErrorFrom({ code: -32603, message: 'no reply for this call' }) };
      return r.error ? { ok: false, error: rpcErrorFrom(r.error) } : { ok: true, result: r.result ?? null };
    });
  }

  private async post(path: string, body: string): Promise<{ status: number; text: string }> {
    const u = new URL(path, this.target.url);
    const mod = u.protocol === 'https:' ? await import('node:https') : await import('node:http');
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-icpy-client-kind': this.identity.kind,
      'x-icpy-client-name': encodeHeader(this.identity.name),
    };
    if (this.target.token) headers.authorization = `Bearer ${this.target.token}`;
    const options: RequestOptions = { method: 'POST', headers };
    return new Promise((resolve, reject) => {
      const req = mod.request(u, options, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code && UNREACHABLE.has(err.code)) reject(noServerError(`cannot reach the icpy server at ${this.target.url} (${err.code})`));
        else reject(err);
      });
      req.end(body);
    });
  }
}

/** Header values must be Latin-1; anything else is percent-encoded. */
function encodeHeader(v: string): string {
  return /^[\x20-\x7e]*$/.test(v) ? v : encodeURIComponent(v);
}
