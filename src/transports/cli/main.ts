import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { CliError, ExitCode, RpcCallError, usageError } from './cli-error.js';
import { identityFrom } from './client-identity.js';
import type { Command, CommandContext, OptionsConfig, OptionValues } from './command.js';
import { findServer, type ServerTarget } from './discovery.js';
import { HttpRpcClient } from './http-client.js';
import { createOutput, type Output } from './output.js';
import type { WsRpcClient } from './ws-client.js';

/**
 * The `icpy` command (client side). `icpy serve` is routed to app/serve by bin/icpy.js so that
 * client commands never load the server's modules; each command's module is loaded on demand.
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  open: { summary: 'open FILE[:LINE[:COL]] in every connected editor', load: async () => (await import('./commands/open.js')).openCommand },
  ls: { summary: 'list a folder', load: async () => (await import('./commands/files.js')).lsCommand },
  cat: { summary: 'print a file', load: async () => (await import('./commands/files.js')).catCommand },
  write: { summary: 'write stdin to a file (--expect-version for safe edits)', load: async () => (await import('./commands/files.js')).writeCommand },
  rm: { summary: 'delete a file or folder', load: async () => (await import('./commands/files.js')).rmCommand },
  mv: { summary: 'move or rename', load: async () => (await import('./commands/files.js')).mvCommand },
  cp: { summary: 'copy', load: async () => (await import('./commands/files.js')).cpCommand },
  mkdir: { summary: 'create a folder', load: async () => (await import('./commands/files.js')).mkdirCommand },
  search: { summary: 'search file contents (FILE:LINE:COL: text)', load: async () => (await import('./commands/files.js')).searchCommand },
  find: { summary: 'find files by name (fuzzy)', load: async () => (await import('./commands/files.js')).findCommand },
  edit: { summary: 'edit a file in place: --range, --replace or --patch', load: async () => (await import('./commands/edit.js')).editCommand },
  history: { summary: 'versions of a file', load: async () => (await import('./commands/history.js')).historyCommand },
  diff: { summary: 'unified diff between versions of a file', load: async () => (await import('./commands/history.js')).diffCommand },
  checkpoint: { summary: 'name the current text of a file', load: async () => (await import('./commands/history.js')).checkpointCommand },
  restore: { summary: 'make an old version of a file current again', load: async () => (await import('./commands/history.js')).restoreCommand },
  run: { summary: 'run a program: run FILE [-- ARGS] or run -l LANG -c CODE (live output, exit code)', load: async () => (await import('./commands/run.js')).runCommand },
  terminal: { summary: 'attach to a terminal, or new|ls|run|kill', load: async () => (await import('./commands/terminal.js')).terminalCommand },
  diagnostics: { summary: 'errors and warnings from the language servers (PATH:LINE:COL …)', load: async () => (await import('./commands/lsp.js')).diagnosticsCommand },
  symbols: { summary: 'find symbols by name across the workspace (language servers)', load: async () => (await import('./commands/lsp.js')).symbolsCommand },
  events: { summary: 'follow the event stream (one JSON object per line)', load: async () => (await import('./commands/events.js')).eventsCommand },
  status: { summary: 'server, root, connections and terminals', load: async () => (await import('./commands/status.js')).statusCommand },
  workspace: { summary: 'show the workspace state; open/close/layout', load: async () => (await import('./commands/workspace.js')).workspaceCommand },
  'agent-token': { summary: 'agent credentials for AI agents: create|list|revoke', load: async () => (await import('./commands/agent-token.js')).agentTokenCommand },
  call: { summary: 'call any method: call METHOD [JSON | key=value…]', load: async () => (await import('./commands/call.js')).callCommand },
  methods: { summary: 'list every method the server offers', load: async () => (await import('./commands/call.js')).methodsCommand },
  mcp: { summary: 'MCP server on stdio, bridged to this folder\'s server (Claude Desktop, any MCP client)', load: async () => (await import('./commands/mcp.js')).mcpCommand },
  help: { summary: 'help [COMMAND | METHOD]', load: async () => (await import('./commands/call.js')).helpCommand },
};

export const GLOBAL_OPTIONS: OptionsConfig = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  agent: { type: 'string' },
  name: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

export const GLOBAL_USAGE = `Global options:
  --url URL        server to talk to (else ICPY_URL, else the server serving this folder)
  --token T        token (else ICPY_TOKEN, else from the runtime file)
  --json           machine output (JSON)
  --agent NAME     act as agent NAME (else ICPY_AGENT); other clients see who acted
  --name NAME      display name of this CLI client (else ICPY_NAME)
  -h, --help       help for a command
  -V, --version    print the version`;

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  const lines = Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(width)}  ${v.summary}`);
  return `Usage: icpy <command> [args] [options]
       icpy FILE[:LINE[:COL]]     open a file in every connected editor

Commands:
  ${'serve'.padEnd(width)}  serve a workspace folder (icpy serve --help)
${lines.join('\n')}

${GLOBAL_USAGE}

Exit codes: 0 ok, 1 the call failed, 2 usage error, 3 no server reachable (icpy run: the program's).
More: icpy help COMMAND, icpy help METHOD (e.g. icpy help files.read), docs/cli.md`;
}

/** The package version (package.json two folders above dist/transports/cli). */
function cliVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** A first word that is no command but looks like a path is `icpy open`. */
function looksLikeFile(word: string, cwd: string): boolean {
  if (word.startsWith('-')) return false;
  if (/[/\\.~]/.test(word)) return true;
  return existsSync(resolve(cwd, word.replace(/(:\d+){1,2}$/, '')));
}

export async function lookupCommand(name: string): Promise<Command | undefined> {
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  return entry?.load();
}

export function commandNames(): string[] {
  return Object.keys(COMMANDS);
}

export async function main(argv: string[], io: { cwd?: string } = {}): Promise<number> {
  const cwd = io.cwd ?? process.cwd();
  // The reader went away (`icpy cat big | head`): stop quietly, like cat does.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(ExitCode.Ok);
    throw err;
  });
  const json = argv.includes('--json');
  let out = createOutput(json);
  let ws: WsRpcClient | undefined;
  try {
    let [name, ...rest] = argv;
    if (name === '--version' || name === '-V') {
      process.stdout.write(`icpy ${cliVersion()}\n`);
      return ExitCode.Ok;
    }
    if (name === undefined || name === '--help' || name === '-h') {
      (name === undefined ? process.stderr : process.stdout).write(usage() + '\n');
      return name === undefined ? ExitCode.Usage : ExitCode.Ok;
    }
    if (name.startsWith('-')) {
      // Global options first (`icpy --json status`): the command is the first positional.
      const i = argv.findIndex((a, k) => !a.startsWith('-') && !(k > 0 && ['--url', '--token', '--agent', '--name'].includes(argv[k - 1]!)));
      if (i < 0) throw usageError('no command given', usage());
      name = argv[i]!;
      rest = [...argv.slice(0, i), ...argv.slice(i + 1)];
    }
    let command = await lookupCommand(name);
    if (!command) {
      if (!looksLikeFile(name, cwd)) throw usageError(`unknown command '${name}' (see: icpy help)`);
      command = await lookupCommand('open');
      rest = [name, ...rest];
    }
    let parsed: { values: OptionValues; positionals: string[] };
    try {
      const options = { ...GLOBAL_OPTIONS, ...command!.options };
      const args = command!.optionsEndAtFirstPositional ? endOptionsAtFirstPositional(rest, options) : glueStringValues(rest, options);
      parsed = parseArgs({ args, options, allowPositionals: true, strict: true }) as typeof parsed;
    } catch (err) {
      throw usageError(`${command!.name}: ${(err as Error).message.replace(/\. To specify a positional.*$/s, '')}`, command!.usage);
    }
    const { values, positionals } = parsed;
    // `--json` after the point where options end was the program's, not ours.
    if (values.json !== true && out.json) out = createOutput(false);
    if (values.help && command!.name !== 'help') {
      process.stdout.write(`${command!.usage}\n\n${GLOBAL_USAGE}\n`);
      return ExitCode.Ok;
    }
    // A command with its own --name (agent-token create) means something else by it than the display name.
    const ownName = command!.options !== undefined && Object.hasOwn(command!.options, 'name');
    const identity = identityFrom({ agent: values.agent as string | undefined, name: ownName ? undefined : (values.name as string | undefined) });
    let target: ServerTarget | undefined;
    let http: HttpRpcClient | undefined;
    let root: Promise<string> | undefined;
    const ctx: CommandContext = {
      positionals,
      values,
      out,
      identity,
      cwd,
      target: () => (target ??= findServer({ url: values.url as string | undefined, token: values.token as string | undefined, cwd })),
      http: () => (http ??= new HttpRpcClient(ctx.target(), identity)),
      ws: async () => {
        // A dropped connection is replaced on the next call (the events command reconnects).
        if (!ws || !ws.isOpen) {
          const { WsRpcClient } = await import('./ws-client.js');
          ws = await WsRpcClient.connect(ctx.target(), identity);
        }
        return ws;
      },
      root: () =>
        (root ??= (async () => {
          const known = ctx.target().root;
          if (known) return known;
          const info = (await ctx.http().call('server.info')) as { root: string };
          return info.root;
        })()),
      serverPath: async (p) => toServerPath(p, cwd, await ctx.root()),
    };
    return (await command!.run(ctx)) ?? ExitCode.Ok;
  } catch (err) {
    return report(err, out);
  } finally {
    if (ws) await ws.close().catch(() => undefined);
  }
}

/**
 * `--expect-version -x1` → `--expect-version=-x1`: values of string options may start with '-'
 * (versions, patterns), which parseArgs would otherwise refuse as ambiguous.
 */
function glueStringValues(args: string[], options: OptionsConfig): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    let long: string | undefined;
    if (a.startsWith('--') && !a.includes('=')) long = a.slice(2);
    else if (/^-[^-]$/.test(a)) long = Object.entries(options).find(([, o]) => o.short === a[1])?.[0];
    if (long && options[long]?.type === 'string' && i + 1 < args.length) {
      out.push(`--${long}=${args[++i]}`);
    } else out.push(a);
  }
  return out;
}

/**
 * Options up to the first positional, then `--`: the words after it are the positional's own
 * (`icpy run x.py --cwd a` passes `--cwd a` to x.py), never glued or parsed as ours.
 */
function endOptionsAtFirstPositional(args: string[], options: OptionsConfig): string[] {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return glueStringValues(args, options);
    if (a === '-' || !a.startsWith('-')) {
      const tail = args[i + 1] === '--' ? args.slice(i + 2) : args.slice(i + 1);
      return [...glueStringValues(args.slice(0, i + 1), options), '--', ...tail];
    }
    let long: string | undefined;
    if (a.startsWith('--') && !a.includes('=')) long = a.slice(2);
    else if (/^-[^-]$/.test(a)) long = Object.entries(options).find(([, o]) => o.short === a[1])?.[0];
    if (long && options[long]?.type === 'string') i++; // its value, whatever it looks like
  }
  return glueStringValues(args, options);
}

/**
 * Paths typed in a shell are relative to the current folder; the server wants them relative to
 * its root. A path outside the root is passed through (the server refuses it clearly).
 */
export function toServerPath(p: string, cwd: string, root: string): string {
  const abs = resolve(cwd, p);
  for (const r of new Set([root, realOr(root)])) {
    for (const a of new Set([abs, realParentOr(abs)])) {
      if (a === r || a.startsWith(r.endsWith(sep) ? r : r + sep)) return relative(r, a).split(sep).join('/') || '.';
    }
  }
  // Not under the root from here (e.g. a remote server): a relative path is taken as root-relative.
  return isAbsolute(p) ? p : p.split(sep).join('/');
}

function realOr(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/** realpath of the deepest existing ancestor, so paths of files not yet created still map. */
function realParentOr(p: string): string {
  const rest: string[] = [];
  let head = p;
  for (;;) {
    try {
      return resolve(realpathSync(head), ...rest);
    } catch {
      const parent = dirname(head);
      if (parent === head) return p;
      rest.unshift(basename(head));
      head = parent;
    }
  }
}

/** Print an error the way scripts can rely on, and pick the exit code. */
export function report(err: unknown, out: Output): number {
  if (err instanceof RpcCallError) {
    if (out.json) out.jsonLine({ error: err.toWire() });
    process.stderr.write(`icpy: ${err.code}: ${err.message}\n`);
    return ExitCode.CallFailed;
  }
  if (err instanceof CliError) {
    if (out.json && err.exitCode !== ExitCode.Usage) out.jsonLine({ error: { code: err.exitCode === ExitCode.NoServer ? 'NO_SERVER' : 'FAILED', message: err.message } });
    process.stderr.write(`icpy: ${err.message}\n${err.detail && err.exitCode === ExitCode.Usage ? `\n${err.detail}\n` : ''}`);
    return err.exitCode;
  }
  process.stderr.write(`icpy: ${(err as Error)?.stack ?? String(err)}\n`);
  return ExitCode.CallFailed;
}
