import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';
import type { WebContext } from '../context.js';
import { h, errorMessage } from './dom.js';
import { decodeFrame, utf8Bytes } from './frames.js';
import { StreamCursor } from './stream-cursor.js';

/**
 * The terminal panel: xterm.js views of icpy's persistent terminals (docs/protocol/terminals.md).
 * Terminals belong to the workspace, so a page shows every listed terminal as a tab and attaches
 * to each (binary frames, `ack: true` after xterm has rendered); a reload attaches from the oldest
 * kept byte (the scrollback), a reconnect re-attaches from the last byte shown (`StreamCursor`).
 */
const ACK_EVERY = 64 * 1024;
const ACTIVE_KEY = 'icpy.terminal.active';

interface Summary {
  id: string;
  name: string;
  status: 'running' | 'exited';
  exitCode: number | null;
  signal?: string | null;
}

class TermTab {
  readonly term: Terminal;
  readonly fit = new FitAddon();
  readonly el: HTMLElement;
  readonly tab: HTMLElement;
  readonly label: HTMLElement;
  cursor = new StreamCursor();
  /** No byte shown yet: the first attach (or chunk) sets the cursor, whatever the scrollback's start. */
  fresh = true;
  /** Input is refused once the process exited; the note is written once per page. */
  exited = false;
  exitShown = false;
  rendered = 0;
  acked = 0;
  cols = 0;
  rows = 0;

  constructor(readonly id: string, name: string) {
    this.term = new Terminal({ scrollback: 5000, convertEol: false, fontSize: 13, cursorBlink: true, allowProposedApi: false });
    this.term.loadAddon(this.fit);
    this.el = h('div', { class: 'icpy-term', 'data-terminal-id': id });
    this.label = h('span', {}, name);
    this.tab = h('button', { class: 'icpy-tab', 'data-terminal-id': id, title: id }, this.label);
  }
}

export function registerTerminalPanel(ctx: WebContext): void {
  const tabs = new Map<string, TermTab>();
  let active: string | undefined;
  let root: HTMLElement | undefined;
  let bar: HTMLElement;
  let body: HTMLElement;
  let mounted = false;

  const write = (t: TermTab, offset: number, data: Uint8Array) => {
    if (t.fresh) {
      t.fresh = false;
      t.cursor = new StreamCursor(offset);
    }
    const { data: fresh, lost } = t.cursor.accept(offset, data);
    if (lost) t.term.write(`\r\n\x1b[2m[… ${lost} bytes of output were lost]\x1b[0m\r\n`);
    if (!fresh.byteLength) return;
    const end = t.cursor.next;
    t.term.write(fresh, () => {
      t.rendered = end;
      if (t.rendered - t.acked >= ACK_EVERY) {
        t.acked = t.rendered;
        ctx.rpc.call('terminal.ack', { id: t.id, offset: t.acked }).catch(() => {});
      }
    });
  };

  ctx.rpc.onBinary((buf) => {
    const f = decodeFrame(buf);
    if (f?.type !== 'terminal') return;
    const t = tabs.get(f.id);
    if (t) write(t, f.offset, f.data);
  });
  ctx.rpc.onNotification('terminal.output', (p: { id: string; offset: number; data: string }) => {
    const t = tabs.get(p.id);
    if (t) write(t, p.offset, utf8Bytes(p.data));
  });
  ctx.rpc.onNotification('terminal.exit', (p: { id: string; code: number | null; signal: string | null }) => {
    const t = tabs.get(p.id);
    if (t) markExited(t, p.code, p.signal);
  });
  ctx.rpc.onNotification('terminal.detached', (p: { id: string; reason: string; offset: number }) => {
    const t = tabs.get(p.id);
    if (!t) return;
    if (p.reason === 'closed') removeTab(p.id);
    else attach(t); // stalled: resume from the last byte shown
  });

  function markExited(t: TermTab, code: number | null, signal?: string | null) {
    t.exited = true;
    t.tab.classList.add('exited');
    if (t.exitShown) return;
    t.exitShown = true;
    t.term.write(`\r\n\x1b[2m[process exited${signal ? ` (${signal})` : ` with code ${code}`}]\x1b[0m\r\n`);
  }

  async function attach(t: TermTab) {
    try {
      const params: Record<string, unknown> = { id: t.id, encoding: 'binary', ack: true };
      if (!t.fresh) params.since = t.cursor.next;
      if (t.cols && t.rows && t.id === active) Object.assign(params, { cols: t.cols, rows: t.rows });
      const r = await ctx.rpc.call<{ offset: number; truncated: boolean; status: string }>('terminal.attach', params);
      if (t.fresh) {
        t.fresh = false;
        t.cursor = new StreamCursor(r.offset);
      }
      if (r.truncated) t.term.write('\r\n\x1b[2m[… older output is no longer kept]\x1b[0m\r\n');
      t.acked = t.rendered = Math.max(t.rendered, r.offset);
    } catch (err) {
      const code = (err as { code?: unknown })?.code;
      if (code === -32030 || code === 'TERMINAL_NOT_FOUND') removeTab(t.id);
      else ctx.notify(`Terminal ${t.id}: ${errorMessage(err)}`, 'error');
    }
  }

  function addTab(s: Summary): TermTab {
    const existing = tabs.get(s.id);
    if (existing) return existing;
    const t = new TermTab(s.id, s.name || s.id);
    tabs.set(s.id, t);
    const close = h('span', { class: 'icpy-tab-close', title: 'Close terminal', role: 'button' }, '×');
    close.addEventListener('click', (ev) => {
      ev.stopPropagation();
      ctx.rpc.call('terminal.close', { id: t.id }).catch((err) => ctx.notify(errorMessage(err), 'error'));
      removeTab(t.id);
    });
    t.tab.append(close);
    t.tab.addEventListener('click', () => activate(t.id));
    bar.insertBefore(t.tab, bar.lastElementChild);
    body.append(t.el);
    t.el.hidden = true;
    t.term.open(t.el);
    // Ctrl-` (toggle terminal) and F5 (run the file) are the workspace's: xterm leaves them alone.
    t.term.attachCustomKeyEventHandler((ev) => !((ev.ctrlKey && ev.key === '`') || ev.key === 'F5'));
    t.term.onData((data) => {
      if (t.exited) return;
      ctx.rpc.call('terminal.write', { id: t.id, data }).catch((err) => ctx.notify(errorMessage(err), 'error'));
    });
    if (s.status === 'exited') {
      t.exited = true; // attach replays its output, then terminal.exit writes the note
      t.tab.classList.add('exited');
    }
    return t;
  }

  function removeTab(id: string) {
    const t = tabs.get(id);
    if (!t) return;
    tabs.delete(id);
    t.term.dispose();
    t.el.remove();
    t.tab.remove();
    if (active === id) {
      active = undefined;
      const next = [...tabs.keys()].pop();
      if (next) activate(next);
    }
  }

  function activate(id: string) {
    const t = tabs.get(id);
    if (!t) return;
    active = id;
    try {
      sessionStorage.setItem(ACTIVE_KEY, id);
    } catch {}
    for (const other of tabs.values()) {
      other.el.hidden = other !== t;
      other.tab.classList.toggle('active', other === t);
    }
    fitActive();
    t.term.focus();
  }

  /** Fits the shown terminal to the panel; a new size goes to the PTY (the latest active client wins). */
  function fitActive() {
    const t = active ? tabs.get(active) : undefined;
    if (!t || !root || root.offsetParent === null) return;
    try {
      t.fit.fit();
    } catch {
      return; // not laid out yet
    }
    if (t.term.cols === t.cols && t.term.rows === t.rows) return;
    t.cols = t.term.cols;
    t.rows = t.term.rows;
    if (!t.exited) ctx.rpc.call('terminal.resize', { id: t.id, cols: t.cols, rows: t.rows }).catch(() => {});
  }

  async function createTerminal() {
    try {
      const s = await ctx.rpc.call<Summary>('terminal.create', { cols: 80, rows: 24 });
      const t = addTab(s);
      activate(t.id);
      await attach(t);
    } catch (err) {
      ctx.notify(`New terminal: ${errorMessage(err)}`, 'error');
    }
  }

  /** Shows every terminal the workspace has and (re-)attaches each; a first visit opens one. */
  async function sync(first: boolean) {
    let list: Summary[];
    try {
      list = (await ctx.rpc.call<{ terminals: Summary[] }>('terminal.list', {})).terminals;
    } catch (err) {
      ctx.notify(`Terminals: ${errorMessage(err)}`, 'error');
      return;
    }
    synced = true;
    const listed = new Set(list.map((s) => s.id));
    for (const id of [...tabs.keys()]) if (!listed.has(id)) removeTab(id);
    for (const s of list) addTab(s);
    // A first visit, or a reconnect to a restarted server (its terminals are gone), gets a fresh one.
    const restarted = lostToShutdown;
    lostToShutdown = false;
    if ((first || restarted) && !list.some((s) => s.status === 'running')) {
      await createTerminal();
    } else {
      let want: string | null = null;
      try {
        want = sessionStorage.getItem(ACTIVE_KEY);
      } catch {}
      if (!active || !tabs.has(active)) {
        const pick = want && tabs.has(want) ? want : list.find((s) => s.status === 'running')?.id ?? list[0]?.id;
        if (pick) activate(pick);
      }
    }
    await Promise.all([...tabs.values()].map((t) => attach(t)));
  }

  ctx.rpc.subscribe(['terminal.created', 'terminal.closed', 'terminal.renamed', 'terminal.exited'], (ev) => {
    if (!mounted) return;
    const d = ev.data;
    if (ev.topic === 'terminal.created' && !tabs.has(d.id)) {
      // Another client's terminal (an agent's `terminal.run` too): shown as a tab, not focused.
      void attach(addTab(d));
    } else if (ev.topic === 'terminal.closed') {
      if (d.reason === 'shutdown') lostToShutdown = true; // (its tab may be gone already: terminal.detached)
      removeTab(d.id);
    }
    else if (ev.topic === 'terminal.renamed') {
      const t = tabs.get(d.id);
      if (t) t.label.textContent = d.name;
    }
  });

  let synced = false;
  /** The server shut down with our terminals: the reconnect to its successor opens a fresh one. */
  let lostToShutdown = false;
  ctx.rpc.onOpen(() => {
    // Before the first sync has listed the terminals the page is still starting (mount syncs);
    // after it, an open is a reconnect: re-attach each tab from its last byte.
    if (synced) void sync(false);
  });

  ctx.addPanel({
    id: 'terminal',
    title: 'Terminal',
    area: 'bottom',
    mount(el) {
      mounted = true;
      const add = h('button', { class: 'icpy-tab icpy-tab-add', title: 'New terminal', 'data-testid': 'terminal-new' }, '+');
      add.addEventListener('click', () => void createTerminal());
      bar = h('div', { class: 'icpy-tabs icpy-term-tabs' }, add);
      body = h('div', { class: 'icpy-term-body' });
      root = h('div', { class: 'icpy-panel icpy-terminal-panel', 'data-testid': 'terminal-panel' }, bar, body);
      el.append(root);
      let pending: ReturnType<typeof setTimeout> | undefined;
      new ResizeObserver(() => {
        clearTimeout(pending);
        pending = setTimeout(fitActive, 30);
      }).observe(body);
      void sync(true);
    },
    shown() {
      fitActive();
      const t = active ? tabs.get(active) : undefined;
      t?.term.focus();
    },
  });
}
