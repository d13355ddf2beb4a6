/** Ctrl/Cmd-P: find a file by name (`files.find`, fuzzy), arrows to choose, Enter opens. */
import { debounce, h } from './dom.js';
import type { Shell } from './shell.js';

interface Hit { path: string; score: number }

export class QuickOpen {
  private readonly box: HTMLDivElement;
  private readonly input: HTMLInputElement;
  private readonly list: HTMLUListElement;
  private hits: Hit[] = [];
  private active = 0;
  private ticket = 0;
  private readonly run = debounce(() => void this.find(), 60);

  constructor(private readonly shell: Shell) {
    this.input = h('input', { id: 'quick-open-input', type: 'text', placeholder: 'Find a file by name', autocomplete: 'off', spellcheck: 'false' });
    this.list = h('ul', { class: 'hits' });
    this.box = h('div', { id: 'quick-open', class: 'overlay', hidden: true }, h('div', { class: 'dialog' }, this.input, this.list));
    document.body.append(this.box);
    this.input.addEventListener('input', () => this.run());
    this.input.addEventListener('keydown', (e) => this.onKey(e));
    this.box.addEventListener('mousedown', (e) => { if (e.target === this.box) this.close(); });
  }

  open(): void {
    this.box.hidden = false;
    this.input.value = '';
    this.input.focus();
    void this.find();
  }

  close(): void {
    this.box.hidden = true;
    this.shell.view?.focus();
  }

  private async find(): Promise<void> {
    const t = ++this.ticket;
    try {
      const r = await this.shell.rpc.call<{ results: Hit[] }>('files.find', { query: this.input.value, maxResults: 50, pageSize: 50 });
      if (t !== this.ticket) return;
      this.hits = r.results;
    } catch (e) {
      this.hits = [];
      this.shell.notify(`Find: ${(e as Error).message}`, 'error');
    }
    this.active = 0;
    this.render();
  }

  private render(): void {
    this.list.replaceChildren(...this.hits.map((hit, i) => {
      const li = h('li', { class: i === this.active ? 'active' : '', 'data-path': hit.path }, hit.path);
      li.addEventListener('mousedown', (e) => { e.preventDefault(); this.choose(i); });
      return li;
    }));
  }

  private choose(i: number): void {
    const hit = this.hits[i];
    if (!hit) return;
    this.box.hidden = true;
    this.shell.openFile(hit.path);
  }

  private onKey(e: KeyboardEvent): void {
    if (e.key === 'Escape') { e.preventDefault(); this.close(); }
    else if (e.key === 'ArrowDown') { e.preventDefault(); this.active = Math.min(this.active + 1, this.hits.length - 1); this.render(); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); this.active = Math.max(this.active - 1, 0); this.render(); }
    else if (e.key === 'Enter') { e.preventDefault(); this.choose(this.active); }
  }
}
