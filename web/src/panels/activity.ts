import type { IcpyEvent, WebContext } from '../context.js';
import { h, errorMessage, timeOf, trimChildren } from './dom.js';
import { describeAgentCall, describeEvent, type AgentCall } from './format.js';

/**
 * The activity panel: who did what, live — workspace events with their source (name and a kind
 * badge: browser, cli, agent, system) — and agents' recent calls (`agents.activity`, which also
 * records reads and refusals that publish no event). Both lists are bounded.
 */
export const ACTIVITY_PATTERNS = [
  'fs.**',
  'docs.saved',
  'terminal.created',
  // exec.output is left out on purpose: every chunk of every run would reach every browser.
  'exec.queued',
  'exec.started',
  'exec.completed',
  // agents.run.message.delta (token by token) is left out for the same reason.
  'agents.run.started',
  'agents.run.tool.called',
  'agents.run.completed',
  'agents.run.failed',
  'agents.token.*',
];
const MAX_ROWS = 500;
const AGENT_POLL_MS = 3000;

export function registerActivityPanel(ctx: WebContext): void {
  let events: HTMLElement | undefined;
  let calls: HTMLElement | undefined;
  const backlog: IcpyEvent[] = []; // events before the panel was first shown
  let nextCall: number | string | undefined;
  let polling = false;

  const rowOf = (ev: IcpyEvent) => {
    const l = describeEvent(ev);
    return h(
      'div',
      { class: 'icpy-activity-row', 'data-topic': ev.topic, 'data-kind': l.kind },
      h('span', { class: 'icpy-activity-time' }, timeOf(l.time)),
      h('span', { class: `icpy-badge icpy-kind-${l.kind}` }, l.kind),
      h('span', { class: 'icpy-activity-who' }, l.who),
      h('span', { class: 'icpy-activity-what' }, l.what),
      h('span', { class: 'icpy-activity-detail' }, l.detail),
    );
  };

  const add = (ev: IcpyEvent) => {
    if (!events) {
      backlog.push(ev);
      if (backlog.length > MAX_ROWS) backlog.shift();
      return;
    }
    events.prepend(rowOf(ev));
    trimChildren(events, MAX_ROWS, false);
    if (ev.source?.kind === 'agent') void pollAgents();
  };
  ctx.rpc.subscribe(ACTIVITY_PATTERNS, add, () => add({ topic: 'events.missed', seq: 0, time: Date.now(), source: { connectionId: '', kind: 'system', name: 'icpy' }, data: {} }));

  async function pollAgents() {
    if (!calls || polling) return;
    polling = true;
    try {
      const params: Record<string, unknown> = { limit: 100 };
      if (nextCall !== undefined) params.since = nextCall;
      const r = await ctx.rpc.call<{ entries: AgentCall[]; next?: number | string }>('agents.activity', params);
      for (const e of r.entries) {
        calls.prepend(
          h(
            'div',
            { class: `icpy-activity-row icpy-agent-call${e.outcome === 'ok' ? '' : ' failed'}` },
            h('span', { class: 'icpy-activity-time' }, timeOf(e.time)),
            h('span', { class: 'icpy-badge icpy-kind-agent' }, 'agent'),
            h('span', { class: 'icpy-activity-who' }, e.agent),
            h('span', { class: 'icpy-activity-what' }, describeAgentCall(e)),
            h('span', { class: 'icpy-activity-detail' }, e.ms !== undefined ? `${e.ms} ms` : ''),
          ),
        );
      }
      trimChildren(calls, MAX_ROWS, false);
      if (r.next !== undefined) nextCall = r.next;
      else if (r.entries.length) nextCall = r.entries[r.entries.length - 1]!.id;
    } catch (err) {
      // A credential without `read` on agents, or an old server: say so once, keep the events.
      if (calls && !calls.childElementCount) calls.append(h('div', { class: 'icpy-error' }, errorMessage(err)));
    } finally {
      polling = false;
    }
  }

  ctx.addPanel({
    id: 'activity',
    title: 'Activity',
    area: 'bottom',
    mount(el) {
      events = h('div', { class: 'icpy-activity-list', 'data-testid': 'activity-events' });
      calls = h('div', { class: 'icpy-activity-list', 'data-testid': 'activity-agents' });
      for (const ev of backlog.splice(0)) events.prepend(rowOf(ev));
      el.append(
        h(
          'div',
          { class: 'icpy-panel icpy-activity-panel' },
          h('section', {}, h('h3', {}, 'Workspace events'), events),
          h('section', {}, h('h3', {}, 'Agent calls'), calls),
        ),
      );
      void pollAgents();
      // Agents' reads publish no event: poll while the panel is on screen.
      setInterval(() => {
        if (calls && calls.offsetParent !== null) void pollAgents();
      }, AGENT_POLL_MS);
    },
    shown() {
      void pollAgents();
    },
  });
}
