/**
 * The shell: layout (presence bar top, explorer/side panels left, editor centre, bottom panel
 * tabs, status bar), the WebContext the panels use, and the IDE keyboard habits.
 */
import type { Extension } from '@codemirror/state';
import type { EditorView } from '@codemirror/view';
import type { Panel, Unsubscribe, WebContext } from './context.js';
import { byId, h } from './dom.js';
import { openEditor, reveal, type OpenEditor } from './editor.js';
import type { Identity } from './identity.js';
import type { IcpyRpc } from './rpc.js';

interface PanelSlot { panel: Panel; tab: HTMLElement; body: HTMLElement; mounted: boolean }

export class Shell implements WebContext {
  private current: OpenEditor | undefined;
  private readonly fileHandlers = new Set<(p: string | undefined) => void>();
  private readonly extensionFactories: ((path: string) => Extension[])[] = [];
  private readonly panels = new Map<string, PanelSlot>();
  private shownBottom: string | undefined;
  private shownSide: string | undefined;
  private msgTimer: ReturnType<typeof setTimeout> | undefined;
  private openSeq = 0;
  /** Set by main: Ctrl/Cmd-P. */
  quickOpen: () => void = () => {};

  constructor(readonly rpc: IcpyRpc, readonly me: Identity) {
    rpc.onState(() => this.renderConnection());
    this.renderConnection();
    document.addEventListener('keydown', (e) => this.onKey(e), true);
    window.addEventListener('hashchange', () => {
      const p = fileFromHash();
      if (p && p !== this.file) this.openFile(p);
    });
  }

  get file(): string | undefined { return this.current?.path; }
  get view(): EditorView | undefined { return this.current?.view; }

  openFile(path: string, at?: { line: number; character: number }): void {
    path = path.replace(/^\/+/, '');
    if (this.current?.path === path) {
      if (at) void this.current.synced.then(() => reveal(this.current!.view, at));
      return;
    }
    const seq = ++this.openSeq;
    this.current?.dispose();
    const host = byId('editor');
    host.replaceChildren();
    const extra = this.extensionFactories.flatMap((f) => {
      try { return f(path); } catch (e) { console.error(e); return []; }
    });
    const ed = openEditor(host, path, this.me, extra);
    this.current = ed;
    byId('editor-title').textContent = path;
    byId('status-file').textContent = path;
    document.title = `${path} — icpy`;
    const hash = '#/' + path.split('/').map(encodeURIComponent).join('/');
    if (location.hash !== hash) history.replaceState(null, '', hash);
    host.dataset.path = path;
    host.dataset.synced = 'false';
    void ed.synced.then(() => {
      if (seq !== this.openSeq) return;
      host.dataset.synced = 'true';
      if (at) reveal(ed.view, at);
    });
    ed.view.focus();
    for (const fh of [...this.fileHandlers]) {
      try { fh(path); } catch (e) { console.error(e); }
    }
  }

  /** The file was deleted or moved away: close its editor. */
  closeFile(path: string): void {
    if (this.current?.path !== path) return;
    this.current.dispose();
    this.current = undefined;
    byId('editor').replaceChildren(h('div', { class: 'empty' }, `${path} was removed.`));
    byId('editor-title').textContent = '';
    byId('status-file').textContent = '';
    history.replaceState(null, '', location.pathname);
    for (const fh of [...this.fileHandlers]) fh(undefined);
  }

  onFileChange(handler: (path: string | undefined) => void): Unsubscribe {
    this.fileHandlers.add(handler);
    return () => this.fileHandlers.delete(handler);
  }

  addEditorExtensions(factory: (path: string) => Extension[]): void {
    this.extensionFactories.push(factory);
  }

  addPanel(panel: Panel): void {
    if (this.panels.has(panel.id)) throw new Error(`panel ${panel.id} exists`);
    const tabs = byId(panel.area === 'bottom' ? 'bottom-tabs' : 'side-tabs');
    const bodies = byId(panel.area === 'bottom' ? 'bottom-body' : 'side-body');
    const tab = h('button', { class: 'tab', 'data-panel': panel.id, type: 'button' }, panel.title);
    const body = h('div', { class: 'panel', 'data-panel': panel.id, hidden: true });
    tab.addEventListener('click', () => {
      if (panel.area === 'bottom' && this.shownBottom === panel.id) this.hideBottom();
      else this.showPanel(panel.id);
    });
    tabs.append(tab);
    bodies.append(body);
    this.panels.set(panel.id, { panel, tab, body, mounted: false });
    if (panel.area === 'side' && !this.shownSide) this.showPanel(panel.id);
    if (panel.area === 'bottom') byId('bottom').hidden = false;
  }

  showPanel(id: string): void {
    const slot = this.panels.get(id);
    if (!slot) return;
    const area = slot.panel.area;
    for (const s of this.panels.values()) {
      if (s.panel.area !== area) continue;
      const on = s === slot;
      s.body.hidden = !on;
      s.tab.classList.toggle('active', on);
    }
    if (area === 'bottom') {
      this.shownBottom = id;
      byId('bottom').hidden = false;
      byId('bottom').classList.remove('collapsed');
    } else this.shownSide = id;
    if (!slot.mounted) {
      slot.mounted = true;
      try { slot.panel.mount(slot.body); } catch (e) { console.error(e); this.notify(`${slot.panel.title}: ${String(e)}`, 'error'); }
    }
    // After layout, so a terminal measures its new size.
    requestAnimationFrame(() => slot.panel.shown?.());
  }

  togglePanel(id: string): void {
    const slot = this.panels.get(id);
    if (!slot) return;
    if (slot.panel.area === 'bottom' && this.shownBottom === id && !byId('bottom').classList.contains('collapsed')) {
      this.hideBottom();
      this.view?.focus();
    } else this.showPanel(id);
  }

  private hideBottom(): void {
    byId('bottom').classList.add('collapsed');
    for (const s of this.panels.values()) if (s.panel.area === 'bottom') s.tab.classList.remove('active');
    this.shownBottom = undefined;
  }

  notify(message: string, kind: 'info' | 'error' = 'info'): void {
    const el = byId('status-msg');
    el.textContent = message;
    el.dataset.kind = kind;
    clearTimeout(this.msgTimer);
    this.msgTimer = setTimeout(() => { el.textContent = ''; }, kind === 'error' ? 10_000 : 4000);
  }

  async save(): Promise<void> {
    const path = this.file;
    if (!path) return;
    try {
      const r = await this.rpc.call<{ saved: boolean }>('docs.save', { path });
      this.notify(r.saved ? `Saved ${path}` : `${path} is up to date`);
    } catch (e) {
      this.notify(`Save failed: ${(e as Error).message}`, 'error');
    }
  }

  private renderConnection(): void {
    const el = byId('conn');
    const s = this.rpc.state;
    el.dataset.state = s === 'reconnecting' && this.rpc.offline ? 'offline' : s;
    el.textContent = s === 'open' ? 'connected'
      : s === 'connecting' ? 'connecting…'
      : s === 'reconnecting' ? (this.rpc.offline ? 'offline — retrying…' : 'reconnecting…')
      : 'disconnected';
  }

  private onKey(e: KeyboardEvent): void {
    const mod = e.ctrlKey || e.metaKey;
    const key = e.key.toLowerCase();
    // Capture phase on document: runs before CodeMirror's and the browser's own handling.
    if (mod && !e.shiftKey && !e.altKey && key === 's') {
      e.preventDefault();
      e.stopPropagation();
      void this.save();
    } else if (mod && !e.shiftKey && !e.altKey && key === 'p') {
      e.preventDefault();
      e.stopPropagation();
      this.quickOpen();
    } else if (mod && e.shiftKey && !e.altKey && key === 'f') {
      e.preventDefault();
      e.stopPropagation();
      this.showPanel('search');
      const input = document.querySelector<HTMLInputElement>('#search-query');
      const sel = this.view?.state.sliceDoc(this.view.state.selection.main.from, this.view.state.selection.main.to);
      if (input) {
        if (sel && !sel.includes('\n')) input.value = sel;
        input.focus();
        input.select();
      }
    } else if (e.ctrlKey && !e.shiftKey && !e.altKey && (e.key === '`' || e.code === 'Backquote')) {
      e.preventDefault();
      e.stopPropagation();
      this.togglePanel('terminal');
    }
  }
}

export function fileFromHash(): string | undefined {
  const m = /^#\/(.+)$/.exec(location.hash);
  if (!m) return undefined;
  try { return decodeURIComponent(m[1]!); } catch { return m[1]; }
}

/** Dragging the bar between the side and the editor sets the side's width (kept for the session). */
export function makeResizable(): void {
  const bar = document.getElementById('side-resizer');
  const main = document.getElementById('main');
  if (!bar || !main) return;
  bar.addEventListener('pointerdown', (e) => {
    e.preventDefault();
    bar.setPointerCapture(e.pointerId);
    const move = (ev: PointerEvent) => {
      const w = Math.max(140, Math.min(ev.clientX, window.innerWidth - 200));
      main.style.gridTemplateColumns = `${w}px 4px 1fr`;
    };
    const up = () => {
      bar.removeEventListener('pointermove', move);
      bar.removeEventListener('pointerup', up);
      window.dispatchEvent(new Event('resize'));
    };
    bar.addEventListener('pointermove', move);
    bar.addEventListener('pointerup', up);
  });
}
