import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { resolve } from 'node:path';
import { CliError, ExitCode, noServerError } from '../cli-error.js';
import type { Command } from '../command.js';
import { findServer } from '../discovery.js';

/**
 * `icpy mcp`: MCP over stdio for clients that spawn their servers (Claude Desktop, editors,
 * crewAI's StdioServerParameters). A message-level proxy between the SDK's stdio server transport
 * and its Streamable HTTP client transport to `/mcp` of the running server, so stdio and HTTP
 * sessions are the same thing (same tools, principal, limits, attribution). Nothing but protocol
 * goes to stdout; diagnostics go to stderr. Ends (exit 0) when stdin closes, closing the session.
 */
export const mcpCommand: Command = {
  name: 'mcp',
  summary: 'MCP server on stdio, bridged to the running server (for Claude Desktop and other MCP clients)',
  usage: `Usage: icpy mcp [DIR]

Speak MCP (Model Context Protocol) on stdin/stdout, bridged to /mcp of the server serving DIR
(default: this folder; found like every command: --url/--token, ICPY_URL/ICPY_TOKEN, else the
runtime file). MCP clients that cannot set a working folder pass DIR.
Tools are the server's methods (files_read, files_write, terminal_run, …); resources are the
workspace files (file:///<path relative to the root>). The session acts with the token given:
the server token, or an agent credential (ICPY_TOKEN=icpy_agent_…) limited to its scopes and paths.
Example MCP client configuration (Claude Desktop):
  {"mcpServers": {"icpy": {"command": "icpy", "args": ["mcp", "/path/to/project"]}}}
Exit codes: 0 stdin closed, 3 no server reachable.`,
  async run(ctx) {
    const dir = ctx.positionals[0];
    if (ctx.positionals.length > 1) throw new CliError(ExitCode.Usage, 'icpy mcp: at most one folder');
    const target = dir === undefined ? ctx.target() : findServer({ url: ctx.values.url as string | undefined, token: ctx.values.token as string | undefined, cwd: resolve(ctx.cwd, dir) });
    if (!target.token) throw new CliError(ExitCode.Usage, 'icpy mcp: no token (pass --token, set ICPY_TOKEN, or run it in a folder served by icpy serve)');
    const base = target.url;
    try {
      const res = await fetch(new URL('/api/health', base), { signal: AbortSignal.timeout(5000) });
      await res.body?.cancel();
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
    } catch (err) {
      throw noServerError(`icpy mcp: no server answers at ${base} (${(err as Error).message})`);
    }
    const { StdioServerTransport } = await import('@modelcontextprotocol/sdk/server/stdio.js');
    const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
    const remote = new StreamableHTTPClientTransport(new URL('/mcp', base), {
      requestInit: { headers: { authorization: `Bearer ${target.token}` } },
    });
    const local = new StdioServerTransport();
    const diag = (msg: string) => void process.stderr.write(`icpy mcp: ${msg}\n`);
    /** Ids of initialize requests in flight: their replies carry the protocol version to send from then on. */
    const initializing = new Set<string | number>();

    // A client may pipeline (send `initialized` and its first calls without waiting for the
    // initialize reply); the session id arrives with that reply, so what follows an initialize
    // waits for it, in order.
    let gate: Promise<void> = Promise.resolve();
    let openGate: (() => void) | undefined;
    local.onmessage = (msg: JSONRPCMessage) => {
      const req = msg as { id?: string | number; method?: string };
      const isInit = req.method === 'initialize' && req.id !== undefined;
      if (isInit) {
        initializing.add(req.id!);
        openGate?.();
        gate = new Promise<void>((r) => (openGate = r));
        send(msg, req);
      } else void gate.then(() => send(msg, req));
    };
    const send = (msg: JSONRPCMessage, req: { id?: string | number; method?: string }) =>
      remote.send(msg).catch((err: Error) => {
        if (req.method === 'initialize') openGate?.();
        diag(`request failed: ${err.message}`);
        // A request must be answered: the client would wait forever.
        if (req.id !== undefined && req.method !== undefined) {
          void local.send({ jsonrpc: '2.0', id: req.id, error: { code: -32603, message: `icpy mcp: the server did not take the message: ${err.message}` } });
        }
      });
    remote.onmessage = (msg: JSONRPCMessage) => {
      const res = msg as { id?: string | number; result?: { protocolVersion?: string } };
      if (res.id !== undefined && initializing.delete(res.id)) {
        if (typeof res.result?.protocolVersion === 'string') remote.setProtocolVersion(res.result.protocolVersion);
        void local.send(msg).then(() => openGate?.());
        return;
      }
      void local.send(msg);
    };
    remote.onerror = (err) => diag(err.message);
    local.onerror = (err) => diag(err.message);

    await remote.start();
    await local.start();
    await new Promise<void>((resolve) => {
      process.stdin.once('end', resolve);
      process.stdin.once('close', resolve);
    });
    await remote.terminateSession().catch(() => undefined);
    await remote.close().catch(() => undefined);
    await local.close().catch(() => undefined);
    return ExitCode.Ok;
  },
};
