import { usageError } from '../cli-error.js';
import type { Command, CommandContext } from '../command.js';
import { formatAge } from '../output.js';
import { openFiles } from './open.js';

interface Source {
  kind: string;
  name: string;
}
interface Rec<T> {
  value: T;
  version: number;
  updatedBy: Source | null;
  updatedAt: number;
}
interface Snapshot {
  seq: number;
  state: {
    editors: Rec<{ open: { path: string; openedAt: number; openedBy: Source }[]; active: string | null }>;
    layout: Rec<{ name: string | null; layout: Record<string, unknown> }>;
    layouts: Rec<Record<string, unknown>>;
    terminals: Rec<string[]>;
    cursors: Record<string, { path: string; line: number; column: number; client: Source }>;
  };
}

const USAGE = `Usage: icpy workspace [show]
       icpy workspace open FILE[:LINE[:COL]]…     open in every connected editor
       icpy workspace close FILE…                 close editors
       icpy workspace activate FILE               make an open editor the active one
       icpy workspace layouts                     list saved layouts
       icpy workspace save NAME                   save the current layout as NAME
       icpy workspace switch NAME                 switch every client to saved layout NAME
       icpy workspace delete-layout NAME          forget a saved layout

The shared workspace state every client sees: open editors (* = active), the current layout,
saved layouts, terminals shown and each client's cursor. --json prints workspace.get.`;

export const workspaceCommand: Command = {
  name: 'workspace',
  summary: 'workspace state',
  usage: USAGE,
  options: { background: { type: 'boolean' } },
  async run(ctx) {
    const [sub = 'show', ...args] = ctx.positionals;
    const one = (what: string) => {
      if (args.length !== 1) throw usageError(`workspace ${sub}: ${what}`, USAGE);
      return args[0]!;
    };
    switch (sub) {
      case 'show':
        return show(ctx);
      case 'open':
        if (!args.length) throw usageError('workspace open: FILE missing', USAGE);
        return openFiles(ctx, args, !ctx.values.background);
      case 'close':
        if (!args.length) throw usageError('workspace close: FILE missing', USAGE);
        for (const f of args) print(ctx, await ctx.http().call('workspace.closeFile', { path: await ctx.serverPath(f) }), `closed ${f}`);
        return;
      case 'activate':
        return print(ctx, await ctx.http().call('workspace.setActive', { path: await ctx.serverPath(one('one FILE')) }), `activated ${args[0]}`);
      case 'save':
        return print(ctx, await ctx.http().call('workspace.saveLayout', { name: one('one NAME') }), `saved layout ${args[0]}`);
      case 'switch':
        return print(ctx, await ctx.http().call('workspace.switchLayout', { name: one('one NAME') }), `switched to layout ${args[0]}`);
      case 'delete-layout': {
        const r = (await ctx.http().call('workspace.deleteLayout', { name: one('one NAME') })) as { wasCurrent?: boolean };
        return print(ctx, r, `deleted layout ${args[0]}${r.wasCurrent ? ' (it was the current layout, which is now unnamed)' : ''}`);
      }
      case 'layouts': {
        const snap = (await ctx.http().call('workspace.get')) as Snapshot;
        const names = Object.keys(snap.state.layouts.value);
        if (ctx.out.json) ctx.out.jsonLine({ current: snap.state.layout.value.name, saved: names });
        else for (const n of names) ctx.out.line(`${n === snap.state.layout.value.name ? '* ' : '  '}${n}`);
        return;
      }
      default:
        throw usageError(`workspace: unknown subcommand '${sub}'`, USAGE);
    }
  },
};

function print(ctx: CommandContext, result: unknown, human: string): void {
  if (ctx.out.json) ctx.out.jsonLine(result);
  else ctx.out.line(human);
}

async function show(ctx: CommandContext): Promise<void> {
  const snap = (await ctx.http().call('workspace.get')) as Snapshot;
  if (ctx.out.json) {
    ctx.out.jsonLine(snap);
    return;
  }
  const out = ctx.out;
  const st = snap.state;
  const by = (r: Rec<unknown>) => (r.updatedBy ? out.dim(`  (by ${r.updatedBy.kind} "${r.updatedBy.name}", ${formatAge(r.updatedAt)} ago)`) : '');
  out.line(`${out.bold(`editors (${st.editors.value.open.length})`)}${by(st.editors)}`);
  for (const e of st.editors.value.open) {
    out.line(`${e.path === st.editors.value.active ? '* ' : '  '}${e.path}  ${out.dim(`opened by ${e.openedBy.kind} "${e.openedBy.name}"`)}`);
  }
  out.line();
  const saved = Object.keys(st.layouts.value);
  out.line(`${out.bold('layout')}   ${st.layout.value.name ?? '(unnamed)'}${saved.length ? `  ${out.dim(`saved: ${saved.join(', ')}`)}` : ''}${by(st.layout)}`);
  out.line(`${out.bold('terminals')} ${st.terminals.value.length ? st.terminals.value.join(', ') : '(none shown)'}`);
  const cursors = Object.values(st.cursors);
  if (cursors.length) {
    out.line();
    out.line(out.bold(`cursors (${cursors.length})`));
    out.table(
      cursors.map((c) => ({ client: `${c.client.kind} "${c.client.name}"`, file: c.path, line: c.line, column: c.column })),
      ['client', 'file', 'line', 'column'],
    );
  }
  out.line(out.dim(`state as of event seq ${snap.seq}`));
}
