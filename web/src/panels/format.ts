/**
 * The panels' text: activity lines, agent calls, diff line classes, run completions. Pure and
 * DOM-free (no import of context.ts, which names DOM types), so it is unit-tested under Node.
 */

/** The part of an `IcpyEvent` (context.ts) these lines read. */
export interface EventLike {
  topic: string;
  time: number;
  source: { connectionId: string; kind: 'browser' | 'cli' | 'agent' | 'system'; name: string };
  data: any;
}

/** One line of the activity panel for an event: who (source), what (topic), on what (summary). */
export interface ActivityLine {
  time: number;
  kind: EventLike['source']['kind'];
  who: string;
  what: string;
  detail: string;
}

const VERBS: Record<string, string> = {
  'fs.file.created': 'created',
  'fs.file.changed': 'changed',
  'fs.file.deleted': 'deleted',
  'fs.dir.created': 'created folder',
  'fs.dir.deleted': 'deleted folder',
  'docs.saved': 'saved',
  'terminal.created': 'opened terminal',
  'exec.started': 'ran',
  'exec.completed': 'run finished',
  'exec.queued': 'queued run',
  'agents.run.started': 'started workflow',
  'agents.run.tool.called': 'called tool',
  'agents.run.completed': 'workflow finished',
  'agents.run.failed': 'workflow failed',
  'agents.token.created': 'created credential',
  'agents.token.revoked': 'revoked credential',
  'events.missed': 'some events were missed (too long disconnected)',
};

function list(paths: unknown, max = 3): string {
  if (!Array.isArray(paths)) return '';
  const shown = paths.slice(0, max).map(String).join(', ');
  return paths.length > max ? `${shown} +${paths.length - max}` : shown;
}

export function describeEvent(ev: EventLike): ActivityLine {
  const d = ev.data ?? {};
  let detail = '';
  if (ev.topic.startsWith('fs.')) detail = list(d.paths);
  else if (ev.topic === 'docs.saved') detail = `${d.path ?? ''} v${d.version ?? '?'}`;
  else if (ev.topic === 'terminal.created') detail = d.name ?? d.id ?? '';
  else if (ev.topic === 'exec.started') detail = d.path ?? `${d.language ?? ''} code`;
  else if (ev.topic === 'exec.completed')
    detail = d.cancelled ? 'cancelled' : d.timedOut ? 'timed out' : d.signal ? `signal ${d.signal}` : `exit ${d.exitCode}`;
  else if (ev.topic === 'exec.queued') detail = `position ${d.position}`;
  else if (ev.topic === 'agents.run.tool.called') detail = `${d.workflow}: ${d.method}${d.paths?.length ? ` ${list(d.paths)}` : ''}${d.ok === false ? ` ✗ ${d.error?.code ?? ''}` : ''}`;
  else if (ev.topic.startsWith('agents.run.')) detail = String(d.workflow ?? d.runId ?? '');
  else if (ev.topic.startsWith('agents.token.')) detail = String(d.name ?? d.id ?? '');
  return {
    time: ev.time,
    kind: ev.source?.kind ?? 'system',
    who: ev.source?.name || ev.source?.connectionId || '?',
    what: VERBS[ev.topic] ?? ev.topic,
    detail,
  };
}

export interface AgentCall {
  id: number | string;
  time: number | string;
  agent: string;
  method: string;
  paths?: string[];
  command?: string;
  outcome: 'ok' | 'error';
  code?: string;
  ms?: number;
}

export function describeAgentCall(e: AgentCall): string {
  const on = e.paths?.length ? ` ${list(e.paths)}` : e.command ? ` ${e.command.slice(0, 80)}` : '';
  const outcome = e.outcome === 'ok' ? '' : ` ✗ ${e.code ?? 'error'}`;
  return `${e.method}${on}${outcome}`;
}

export function diffLineClass(line: string): string {
  if (line.startsWith('+++') || line.startsWith('---')) return 'icpy-diff-file';
  if (line.startsWith('@@')) return 'icpy-diff-hunk';
  if (line.startsWith('+')) return 'icpy-diff-add';
  if (line.startsWith('-')) return 'icpy-diff-del';
  return 'icpy-diff-ctx';
}

/** `exec.completed` data (docs/protocol/exec.md). */
export interface Completion {
  id: string;
  exitCode: number | null;
  signal: string | null;
  durationMs: number;
  timedOut: boolean;
  cancelled: boolean;
  truncated: boolean;
  error?: string | null;
}

export function describeCompletion(c: Completion): string {
  const how = c.error
    ? c.error
    : c.cancelled
      ? 'cancelled'
      : c.timedOut
        ? 'timed out'
        : c.signal
          ? `killed by ${c.signal}`
          : `exit code ${c.exitCode}`;
  return `${how} · ${(c.durationMs / 1000).toFixed(2)} s${c.truncated ? ' · output truncated' : ''}`;
}
