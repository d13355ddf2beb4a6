/**
 * The presence bar: everyone connected (connections.list, kept live by connection.* events) and
 * what they look at (presence.list / presence.changed), one chip per person, human or agent.
 * Events only say "something changed"; the lists are fetched again (coalesced), which keeps the
 * bar right after a reconnect or a missed event without bookkeeping.
 */
import { byId, debounce, h } from './dom.js';
import type { Shell } from './shell.js';

interface Conn { id: string; kind: string; name: string; transport?: string }
interface Entry { connectionId: string; name: string; kind: string; color?: string; activeFile?: string; via?: string }
interface Person { key: string; name: string; kind: string; color?: string; files: Set<string>; me: boolean }

const MAX_CHIPS = 50;

export class PresenceBar {
  private readonly refresh = debounce(() => void this.load(), 150);

  constructor(private readonly shell: Shell) {
    const rpc = shell.rpc;
    rpc.subscribe(['connection.*', 'presence.changed'], () => this.refresh(), () => this.refresh());
    rpc.onOpen(() => this.refresh());
  }

  private async load(): Promise<void> {
    let conns: Conn[];
    let entries: Entry[];
    try {
      [conns, entries] = await Promise.all([
        this.shell.rpc.call<Conn[]>('connections.list'),
        this.shell.rpc.call<Entry[]>('presence.list'),
      ]);
    } catch {
      return;
    }
    const people = new Map<string, Person>();
    const add = (kind: string, name: string, color?: string, file?: string, me = false) => {
      if (kind === 'system') return;
      const key = `${kind}\u0000${name}`;
      let p = people.get(key);
      if (!p) people.set(key, (p = { key, name, kind, color, files: new Set(), me }));
      if (color && !p.color) p.color = color;
      if (file) p.files.add(file);
      if (me) p.me = true;
    };
    for (const c of conns) add(c.kind, c.name, undefined, undefined, c.id === this.shell.rpc.connectionId);
    for (const e of entries) add(e.kind, e.name, e.color, e.activeFile);
    const mine = `browser\u0000${this.shell.me.name}`;
    const list = [...people.values()].sort((a, b) => Number(b.key === mine) - Number(a.key === mine) || a.name.localeCompare(b.name));
    const chips = list.slice(0, MAX_CHIPS).map((p) => {
      const files = [...p.files];
      const agent = p.kind === 'agent';
      const chip = h('span', {
        class: `person ${agent ? 'agent' : 'human'}${p.key === mine ? ' me' : ''}`,
        'data-kind': p.kind, 'data-name': p.name,
        title: `${p.name} (${p.kind})${files.length ? ' — ' + files.join(', ') : ''}`,
      },
      h('span', { class: 'dot', style: `background:${safeColor(p.color)}` }),
      h('span', { class: 'name' }, p.name + (p.key === mine ? ' (you)' : '')),
      h('span', { class: 'badge' }, agent ? 'agent' : p.kind === 'cli' ? 'cli' : 'human'));
      if (files[0]) {
        const f = h('a', { class: 'file', href: '#/' + files[0] }, files[0]);
        f.addEventListener('click', (ev) => { ev.preventDefault(); this.shell.openFile(files[0]!); });
        chip.append(f);
      }
      return chip;
    });
    if (list.length > MAX_CHIPS) chips.push(h('span', { class: 'more' }, `+${list.length - MAX_CHIPS}`));
    byId('presence').replaceChildren(...chips);
  }
}

function safeColor(c: string | undefined): string {
  return c && /^#[0-9a-f]{3,8}$/i.test(c) ? c : '#888';
}
