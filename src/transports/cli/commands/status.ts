import type { Command } from '../command.js';
import { formatAge } from '../output.js';

interface Conn {
  id: string;
  kind: string;
  name: string;
  transport: string;
  connectedAt: number;
}

/** One round trip: a JSON-RPC batch of server.info, connections.list, events.status and the terminal list. */
export const statusCommand: Command = {
  name: 'status',
  summary: 'server status',
  usage: `Usage: icpy status

The server this folder talks to (URL, version, root, pid), who is connected (kind and name of
each browser, CLI and agent), and the terminals. --json prints one object.`,
  async run(ctx) {
    const target = ctx.target();
    const [info, conns, events, terms] = await ctx.http().batch([
      { method: 'server.info' },
      { method: 'connections.list' },
      { method: 'events.status' },
      { method: 'terminal.list' },
    ]);
    if (!info!.ok) throw info!.error;
    const connections = conns!.ok ? (conns!.result as Conn[]) : [];
    const terminals = terms!.ok ? (terms!.result as unknown) : undefined;
    const termList = terminalArray(terminals);
    const status = {
      url: target.url,
      via: target.via,
      server: info!.result,
      connections,
      events: events!.ok ? events!.result : undefined,
      terminals: termList,
    };
    if (ctx.out.json) {
      ctx.out.jsonLine(status);
      return;
    }
    const s = info!.result as { name: string; version: string; root: string; pid: number; startedAt: number };
    const out = ctx.out;
    out.line(`${out.bold('server')}   ${target.url}  ${out.dim(`(${s.name} ${s.version}, pid ${s.pid}, up ${formatAge(s.startedAt)}, found via ${target.via})`)}`);
    out.line(`${out.bold('root')}     ${s.root}`);
    out.line(`${out.bold('you')}      ${ctx.identity.kind} "${ctx.identity.name}"`);
    out.line();
    out.line(`${out.bold(`connections (${connections.length})`)}`);
    if (connections.length) {
      out.table(
        connections.map((c) => ({ kind: c.kind, name: c.name, transport: c.transport, id: c.id, since: formatAge(c.connectedAt) })),
        ['kind', 'name', 'transport', 'id', 'since'],
      );
    }
    if (termList) {
      out.line();
      out.line(`${out.bold(`terminals (${termList.length})`)}`);
      if (termList.length) out.table(termList.map(terminalRow));
    }
  },
};

/** The terminal list, whether the method returns an array or `{ terminals: [...] }`. */
export function terminalArray(v: unknown): Record<string, unknown>[] | undefined {
  if (Array.isArray(v)) return v as Record<string, unknown>[];
  if (v && typeof v === 'object' && Array.isArray((v as { terminals?: unknown }).terminals)) return (v as { terminals: Record<string, unknown>[] }).terminals;
  return undefined;
}

export function terminalRow(t: Record<string, unknown>): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const k of ['id', 'name', 'title', 'command', 'shell', 'cwd', 'pid', 'cols', 'rows', 'status', 'exitCode']) if (t[k] !== undefined) row[k] = t[k];
  if (typeof t.createdAt === 'number') row.age = formatAge(t.createdAt);
  return row;
}
