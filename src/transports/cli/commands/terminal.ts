import { CliError, ExitCode, RpcCallError, usageError } from '../cli-error.js';
import type { Command, CommandContext } from '../command.js';
import { DETACH_HELP } from '../terminal-attach.js';
import { TerminalState } from '../terminal-state.js';
import { terminalArray, terminalRow } from './status.js';

const USAGE = `Usage: icpy terminal [ID]                      attach (default: the last one attached, else
                                               the newest running one, else a new one)
       icpy terminal new [--name N] [--cwd DIR] [--shell PROG] [--attach]
       icpy terminal ls
       icpy terminal run "COMMAND" [--cwd DIR] [--timeout SECONDS]
       icpy terminal send ID TEXT                 type TEXT into the terminal (no newline added)
       icpy terminal kill ID…

Attach is interactive: your keystrokes go to the terminal (raw mode), its output to your
screen, and resizing your window resizes it. ${DETACH_HELP}.
Attaching clears your screen and repaints it from the terminal's recent output (as tmux does),
also when nothing happened while you were away; output you missed is replayed in full (the
offset is remembered per terminal in the runtime folder). A full-screen program is repainted
from where it switched to the alternate screen, when that is still in the scrollback.
Exited terminals stay listed (and attachable) for limits.exitedTerminalGraceMs, then go.
\`run\` starts COMMAND in a new terminal every client can watch, waits for it, prints its
output and exits 0 when it succeeded, 1 when it failed or timed out (--json: the full result).`;

interface Summary {
  id: string;
  name: string;
  status: 'running' | 'exited';
  createdAt: number;
}

function localSize(): { cols: number; rows: number } {
  return process.stdout.isTTY ? { cols: process.stdout.columns || 80, rows: process.stdout.rows || 24 } : { cols: 80, rows: 24 };
}

async function attach(ctx: CommandContext, id: string | undefined): Promise<number> {
  const state = new TerminalState(ctx.target().url);
  const ws = await ctx.ws();
  if (!id) {
    const list = terminalArray(await ws.call('terminal.list')) as unknown as Summary[];
    const running = list.filter((t) => t.status === 'running');
    const last = state.last();
    id = running.find((t) => t.id === last)?.id ?? running.sort((a, b) => b.createdAt - a.createdAt)[0]?.id;
    if (!id) id = ((await ws.call('terminal.create', localSize())) as Summary).id;
  }
  const { attachTerminal } = await import('../terminal-attach.js');
  await attachTerminal({ ws, id, state });
  return ExitCode.Ok;
}

export const terminalCommand: Command = {
  name: 'terminal',
  summary: 'terminals',
  usage: USAGE,
  options: {
    name: { type: 'string' },
    cwd: { type: 'string' },
    shell: { type: 'string' },
    attach: { type: 'boolean' },
    timeout: { type: 'string' },
  },
  async run(ctx) {
    const [sub, ...args] = ctx.positionals;
    switch (sub) {
      case undefined:
      case 'attach':
        if (args.length > 1) throw usageError('terminal attach: at most one ID', USAGE);
        return attach(ctx, args[0]);
      case 'ls':
      case 'list': {
        const list = terminalArray(await ctx.http().call('terminal.list')) ?? [];
        if (ctx.out.json) ctx.out.jsonLine(list);
        else if (list.length) ctx.out.table(list.map(terminalRow));
        else ctx.out.line(ctx.out.dim('no terminals (start one: icpy terminal new)'));
        return;
      }
      case 'new':
      case 'create': {
        if (args.length) throw usageError('terminal new: no positional arguments (use --name, --cwd, --shell)', USAGE);
        const cwd = ctx.values.cwd !== undefined ? await ctx.serverPath(ctx.values.cwd as string) : await cwdInRoot(ctx);
        const t = (await ctx.http().call('terminal.create', {
          ...localSize(),
          ...(cwd && cwd !== '.' ? { cwd } : {}),
          ...(ctx.values.name ? { name: ctx.values.name } : {}),
          ...(ctx.values.shell ? { shell: ctx.values.shell } : {}),
        })) as Summary;
        if (ctx.values.attach) return attach(ctx, t.id);
        if (ctx.out.json) ctx.out.jsonLine(t);
        else ctx.out.line(t.id);
        return;
      }
      case 'run': {
        if (args.length !== 1) throw usageError('terminal run: one COMMAND (quote it)', USAGE);
        let timeout: number | undefined;
        if (ctx.values.timeout !== undefined) {
          timeout = Number(ctx.values.timeout);
          if (!(timeout > 0) || timeout > 3600) throw usageError('terminal run: --timeout must be 1..3600 seconds');
        }
        const cwd = ctx.values.cwd !== undefined ? await ctx.serverPath(ctx.values.cwd as string) : await cwdInRoot(ctx);
        const r = (await ctx.http().call('terminal.run', {
          command: args[0],
          ...(cwd && cwd !== '.' ? { cwd } : {}),
          ...(timeout ? { timeout: Math.round(timeout * 1000) } : {}),
          ...(ctx.values.name ? { name: ctx.values.name } : {}),
          ...localSize(),
        })) as { id: string; exitCode: number | null; signal: number | null; timedOut: boolean; output: string };
        if (ctx.out.json) ctx.out.jsonLine(r);
        else process.stdout.write(r.output);
        if (r.timedOut) throw new CliError(ExitCode.CallFailed, `command timed out (terminal ${r.id})`);
        if (r.exitCode !== 0) throw new CliError(ExitCode.CallFailed, `command failed with ${r.exitCode === null ? `signal ${r.signal}` : `exit code ${r.exitCode}`} (terminal ${r.id})`);
        return;
      }
      case 'send': {
        if (args.length !== 2) throw usageError('terminal send: ID and TEXT', USAGE);
        const r = await ctx.http().call('terminal.write', { id: args[0], data: args[1] });
        if (ctx.out.json) ctx.out.jsonLine(r);
        return;
      }
      case 'kill':
      case 'close': {
        if (!args.length) throw usageError('terminal kill: ID missing', USAGE);
        for (const id of args) {
          const r = await ctx.http().call('terminal.close', { id });
          new TerminalState(ctx.target().url).forget(id);
          if (ctx.out.json) ctx.out.jsonLine({ id, ...(r as object) });
        }
        return;
      }
      default:
        // `icpy terminal t1-abc` attaches to that terminal.
        if (args.length === 0 && /^[\w.:-]+$/.test(sub)) {
          try {
            return await attach(ctx, sub);
          } catch (err) {
            if (err instanceof RpcCallError && err.code === 'INVALID_PARAMS') throw usageError(`terminal: unknown subcommand '${sub}'`, USAGE);
            throw err;
          }
        }
        throw usageError(`terminal: unknown subcommand '${sub}'`, USAGE);
    }
  },
};

/** New terminals start in the current folder when it lies inside the workspace. */
async function cwdInRoot(ctx: CommandContext): Promise<string | undefined> {
  const rel = await ctx.serverPath(ctx.cwd);
  return rel.startsWith('/') ? undefined : rel;
}
