/**
 * The explorer: the workspace tree through `files.list` (folders load when opened), kept live by
 * `fs.*` events (the folder holding a changed path is listed again), create / rename / delete
 * (confirmed) and drag to move (`files.move`).
 */
import type { Panel } from './context.js';
import { baseName, debounce, h, joinPath, parentOf } from './dom.js';
import type { Shell } from './shell.js';

interface Entry { name: string; path: string; type: 'file' | 'dir' | string }
interface Folder { path: string; open: boolean; loaded: boolean; list: HTMLElement }

/** Bounds: a folder shows at most this many entries (files.list pages the rest). */
const PAGE = 2000;

export class Explorer implements Panel {
  readonly id = 'explorer';
  readonly title = 'Explorer';
  readonly area = 'side' as const;
  private readonly folders = new Map<string, Folder>();
  private readonly dirty = new Set<string>();
  private selected = '';
  private root!: HTMLElement;
  private readonly flush = debounce(() => this.refreshDirty(), 60);

  constructor(private readonly shell: Shell) {}

  mount(el: HTMLElement): void {
    const bar = h('div', { class: 'toolbar' },
      button('New file', '+ file', () => void this.create('file')),
      button('New folder', '+ folder', () => void this.create('dir')),
      button('Refresh', '⟳', () => void this.reloadAll()));
    this.root = h('ul', { class: 'tree', role: 'tree', 'data-path': '' });
    el.append(bar, this.root);
    el.classList.add('explorer');
    this.folders.set('', { path: '', open: true, loaded: false, list: this.root });
    this.dropTarget(el, '');
    this.shell.rpc.subscribe(['fs.**'], (ev) => this.onFs(ev.topic, ev.data?.paths ?? []), () => void this.reloadAll());
    this.shell.rpc.onOpen(() => void this.reloadAll());
    this.shell.onFileChange((p) => this.mark(p));
  }

  private onFs(topic: string, paths: string[]): void {
    for (const p of paths) {
      this.dirty.add(parentOf(p));
      if ((topic === 'fs.file.deleted' || topic === 'fs.dir.deleted') && this.shell.file
        && (this.shell.file === p || this.shell.file.startsWith(p + '/'))) this.shell.closeFile(this.shell.file);
      if (topic === 'fs.dir.deleted') for (const k of [...this.folders.keys()]) if (k === p || k.startsWith(p + '/')) this.folders.delete(k);
    }
    this.flush();
  }

  private async refreshDirty(): Promise<void> {
    const dirs = [...this.dirty];
    this.dirty.clear();
    for (const d of dirs) {
      const f = this.folders.get(d);
      if (f?.loaded) await this.load(f);
    }
  }

  private async reloadAll(): Promise<void> {
    for (const f of [...this.folders.values()]) if (f.loaded || f.path === '') await this.load(f);
  }

  private async load(folder: Folder): Promise<void> {
    let entries: Entry[];
    try {
      const r = await this.shell.rpc.call<{ entries: Entry[] }>('files.list', { path: folder.path, limit: PAGE });
      entries = r.entries;
    } catch (e) {
      if (folder.path !== '') { this.folders.delete(folder.path); return; }
      this.shell.notify(`Explorer: ${(e as Error).message}`, 'error');
      return;
    }
    folder.loaded = true;
    const rows = entries.map((e) => this.row(e));
    folder.list.replaceChildren(...rows);
    this.mark(this.shell.file);
  }

  private row(e: Entry): HTMLElement {
    const isDir = e.type === 'dir' || e.type === 'directory';
    const label = h('span', { class: 'label' }, e.name);
    const line = h('div', { class: `row ${isDir ? 'dir' : 'file'}`, draggable: 'true', title: e.path, 'data-path': e.path, tabindex: '0' },
      h('span', { class: 'twisty' }, isDir ? '▸' : ''), label,
      h('span', { class: 'actions' },
        button('Rename', '✎', (ev) => { ev.stopPropagation(); void this.rename(e.path); }),
        button('Delete', '🗑', (ev) => { ev.stopPropagation(); void this.remove(e.path, isDir); })));
    const li = h('li', { role: 'treeitem', 'data-path': e.path }, line);
    line.addEventListener('dragstart', (ev) => {
      ev.dataTransfer?.setData('application/x-icpy-path', e.path);
      ev.dataTransfer?.setData('text/plain', e.path);
    });
    line.addEventListener('keydown', (ev) => {
      if (ev.key === 'F2') { ev.preventDefault(); void this.rename(e.path); }
      else if (ev.key === 'Delete') { ev.preventDefault(); void this.remove(e.path, isDir); }
      else if (ev.key === 'Enter') line.click();
    });
    if (isDir) {
      const known = this.folders.get(e.path);
      const list = h('ul', { role: 'group', 'data-path': e.path });
      const folder: Folder = known ?? { path: e.path, open: false, loaded: false, list };
      if (known) { list.replaceChildren(...known.list.childNodes); known.list = list; }
      this.folders.set(e.path, folder);
      list.hidden = !folder.open;
      line.classList.toggle('open', folder.open);
      line.addEventListener('click', () => {
        this.selected = e.path;
        folder.open = !folder.open;
        list.hidden = !folder.open;
        line.classList.toggle('open', folder.open);
        if (folder.open && !folder.loaded) void this.load(folder);
      });
      this.dropTarget(line, e.path);
      li.append(list);
    } else {
      line.addEventListener('click', () => { this.selected = parentOf(e.path); this.shell.openFile(e.path); });
    }
    return li;
  }

  private dropTarget(el: HTMLElement, dir: string): void {
    el.addEventListener('dragover', (ev) => {
      if (!ev.dataTransfer?.types.includes('application/x-icpy-path')) return;
      ev.preventDefault();
      ev.stopPropagation();
      el.classList.add('drop');
    });
    el.addEventListener('dragleave', () => el.classList.remove('drop'));
    el.addEventListener('drop', (ev) => {
      el.classList.remove('drop');
      const from = ev.dataTransfer?.getData('application/x-icpy-path');
      if (!from) return;
      ev.preventDefault();
      ev.stopPropagation();
      void this.move(from, dir);
    });
  }

  async move(from: string, dir: string): Promise<void> {
    const to = joinPath(dir, baseName(from));
    if (to === from || dir === from || dir.startsWith(from + '/')) return;
    const follow = this.followMove(from, to);
    try {
      await this.shell.rpc.call('files.move', { from, to });
      if (follow) this.shell.openFile(follow);
      this.shell.notify(`Moved ${from} → ${to}`);
    } catch (e) {
      this.shell.notify(`Move failed: ${(e as Error).message}`, 'error');
    }
  }

  /**
   * Where the open file goes when `from` (it, or a folder holding it) moves to `to`. Read before
   * the call: the move's own `fs.*.deleted` event can arrive before its reply and close the
   * editor, after which the reply could no longer tell that the file was open.
   */
  private followMove(from: string, to: string): string | undefined {
    const f = this.shell.file;
    if (f === from) return to;
    if (f?.startsWith(from + '/')) return to + f.slice(from.length);
    return undefined;
  }

  private async create(type: 'file' | 'dir'): Promise<void> {
    const base = this.folders.has(this.selected) ? this.selected : '';
    const name = prompt(type === 'file' ? `New file in /${base}` : `New folder in /${base}`);
    if (!name) return;
    const path = joinPath(base, name.replace(/^\/+/, ''));
    try {
      if (type === 'file') {
        await this.shell.rpc.call('files.write', { path, content: '', expectedVersion: null, mkdirs: true });
        this.shell.openFile(path);
      } else await this.shell.rpc.call('files.mkdir', { path });
    } catch (e) {
      this.shell.notify(`Create failed: ${(e as Error).message}`, 'error');
    }
  }

  private async rename(path: string): Promise<void> {
    const name = prompt(`Rename ${path} to`, baseName(path));
    if (!name || name === baseName(path)) return;
    const to = name.includes('/') ? name.replace(/^\/+/, '') : joinPath(parentOf(path), name);
    const follow = this.followMove(path, to);
    try {
      await this.shell.rpc.call('files.move', { from: path, to });
      if (follow) this.shell.openFile(follow);
    } catch (e) {
      this.shell.notify(`Rename failed: ${(e as Error).message}`, 'error');
    }
  }

  private async remove(path: string, isDir: boolean): Promise<void> {
    if (!confirm(`Delete ${path}${isDir ? ' and everything in it' : ''}?`)) return;
    try {
      await this.shell.rpc.call('files.delete', { path, recursive: isDir });
    } catch (e) {
      this.shell.notify(`Delete failed: ${(e as Error).message}`, 'error');
    }
  }

  private mark(path: string | undefined): void {
    for (const el of this.root.querySelectorAll('.row.current')) el.classList.remove('current');
    if (!path) return;
    this.root.querySelector(`.row[data-path="${CSS.escape(path)}"]`)?.classList.add('current');
  }
}

function button(title: string, text: string, onClick: (e: MouseEvent) => void): HTMLButtonElement {
  const b = h('button', { type: 'button', title, 'aria-label': title }, text);
  b.addEventListener('click', onClick);
  return b;
}
