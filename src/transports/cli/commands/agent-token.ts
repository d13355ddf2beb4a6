import { ExitCode, RpcCallError, usageError } from '../cli-error.js';
import type { Command, CommandContext } from '../command.js';
import { formatAge } from '../output.js';

interface Credential {
  id: string;
  name: string;
  scopes: string[];
  paths: string[] | null;
  createdAt: number;
  expiresAt: number | null;
  token?: string;
}

const USAGE = `Usage: icpy agent-token create --name NAME --scopes read[,write,execute,admin] [--paths GLOB …] [--expires 7d]
       icpy agent-token list
       icpy agent-token revoke NAME|ID

Agent credentials: tokens an AI agent (or a script) uses instead of the server token, acting as
agent NAME with only the scopes (read, write, execute, admin) and workspace paths given. Only the
owner (the server token) may create, list or revoke them.

  create   prints the token once (the server keeps only a SHA-256 of it) and how to use it:
           ICPY_TOKEN=<token> icpy …, or "Authorization: Bearer <token>" for /mcp and the HTTP API
           --paths GLOB   limit to workspace paths ('src/**', 'docs/*.md'); repeat, or separate with commas
           --expires D    30m, 12h, 7d (or milliseconds); default: until revoked
  list     the live credentials (never their tokens)
  revoke   stops the credential at once; its open connections close (WebSocket code 4401)

Examples:
  icpy agent-token create --name reviewer --scopes read
  icpy agent-token create --name fixer --scopes read,write --paths 'src/**' --expires 7d
  icpy agent-token revoke fixer`;

export const agentTokenCommand: Command = {
  name: 'agent-token',
  summary: 'agent credentials: create|list|revoke',
  usage: USAGE,
  options: {
    name: { type: 'string' },
    scopes: { type: 'string' },
    paths: { type: 'string', multiple: true },
    expires: { type: 'string' },
  },
  async run(ctx) {
    const [sub, ...rest] = ctx.positionals;
    if (sub === 'create') return create(ctx, rest);
    if (sub === 'list' || sub === 'ls') return list(ctx, rest);
    if (sub === 'revoke') return revoke(ctx, rest);
    throw usageError(sub ? `agent-token: unknown subcommand '${sub}'` : 'agent-token: create, list or revoke?', USAGE);
  },
};

async function create(ctx: CommandContext, rest: string[]): Promise<number> {
  if (rest.length) throw usageError(`agent-token create: unexpected '${rest[0]}'`, USAGE);
  const name = ctx.values.name as string | undefined;
  const scopes = ctx.values.scopes as string | undefined;
  if (!name) throw usageError('agent-token create: --name NAME missing', USAGE);
  if (!scopes) throw usageError('agent-token create: --scopes missing (read, write, execute, admin; comma-separated)', USAGE);
  const params: Record<string, unknown> = { name, scopes: scopes.split(',').map((s) => s.trim()).filter(Boolean) };
  // Repeatable, and each value may hold several globs separated by commas (`'src/**,docs/*.md'`).
  const paths = ((ctx.values.paths as string[] | undefined) ?? []).flatMap((p) => p.split(',')).map((p) => p.trim()).filter(Boolean);
  if (paths.length) params.paths = paths;
  const expires = ctx.values.expires as string | undefined;
  if (expires !== undefined) params.expiresIn = /^\d+$/.test(expires) ? Number(expires) : expires;
  const c = (await callOrUsage(ctx, 'agents.tokens.create', params)) as Credential;
  if (ctx.out.json) {
    ctx.out.jsonLine(c);
    return ExitCode.Ok;
  }
  const out = ctx.out;
  const url = ctx.target().url;
  out.line(`Created agent credential ${out.bold(c.name)} (id ${c.id}): scopes ${c.scopes.join(',')}${c.paths ? `; paths ${c.paths.join(' ')}` : ''}; ${c.expiresAt ? `expires ${new Date(c.expiresAt).toISOString()}` : 'no expiry'}`);
  out.line('Token (shown only now; the server keeps a hash of it):');
  out.line(c.token!);
  out.line();
  out.line('Use it:');
  out.line(`  ICPY_TOKEN=${c.token} icpy status        # the CLI acts as agent ${c.name}`);
  out.line(`  MCP / HTTP: ${url}/mcp with header "Authorization: Bearer ${c.token}"`);
  out.line(`Revoke: icpy agent-token revoke ${c.name}`);
  return ExitCode.Ok;
}

async function list(ctx: CommandContext, rest: string[]): Promise<number> {
  if (rest.length) throw usageError(`agent-token list: unexpected '${rest[0]}'`, USAGE);
  const creds = (await ctx.http().call('agents.tokens.list', {})) as Credential[];
  if (ctx.out.json) {
    ctx.out.jsonLine(creds);
    return ExitCode.Ok;
  }
  if (!creds.length) {
    ctx.out.line('no agent credentials (icpy agent-token create --name NAME --scopes read)');
    return ExitCode.Ok;
  }
  ctx.out.table(
    creds.map((c) => ({
      name: c.name,
      id: c.id,
      scopes: c.scopes.join(','),
      paths: c.paths ? c.paths.join(' ') : '*',
      age: formatAge(c.createdAt),
      expires: c.expiresAt ? new Date(c.expiresAt).toISOString() : 'never',
    })),
  );
  return ExitCode.Ok;
}

async function revoke(ctx: CommandContext, rest: string[]): Promise<number> {
  const [which, ...extra] = rest;
  if (!which) throw usageError('agent-token revoke: NAME or ID missing', USAGE);
  if (extra.length) throw usageError(`agent-token revoke: unexpected '${extra[0]}'`, USAGE);
  let c: Credential;
  // An id is 16 hex digits; a name may look like one, so an unknown id is tried as a name.
  if (/^[0-9a-f]{16}$/.test(which)) {
    try {
      c = (await ctx.http().call('agents.tokens.revoke', { id: which })) as Credential;
    } catch (err) {
      if (!(err instanceof RpcCallError) || err.code !== 'CREDENTIAL_NOT_FOUND') throw err;
      c = (await ctx.http().call('agents.tokens.revoke', { name: which })) as Credential;
    }
  } else c = (await ctx.http().call('agents.tokens.revoke', { name: which })) as Credential;
  if (ctx.out.json) ctx.out.jsonLine(c);
  else ctx.out.line(`revoked agent credential ${c.name} (id ${c.id}); its connections are closed`);
  return ExitCode.Ok;
}

/** Bad params (a name, scope, glob, duration) are a usage error (exit 2) naming the field. */
async function callOrUsage(ctx: CommandContext, method: string, params: unknown): Promise<unknown> {
  try {
    return await ctx.http().call(method, params);
  } catch (err) {
    if (err instanceof RpcCallError && err.code === 'INVALID_PARAMS') {
      if (ctx.out.json) ctx.out.jsonLine({ error: err.toWire() });
      throw usageError(`agent-token create: ${err.message}`, USAGE);
    }
    throw err;
  }
}
