/** The search panel (Ctrl/Cmd-Shift-F): content through `files.search`, file names through `files.find`. */
import type { Panel } from './context.js';
import { h } from './dom.js';
import type { Shell } from './shell.js';

interface Match { path: string; line: number; column: number; text: string }

const MAX_RESULTS = 500;

export class SearchPanel implements Panel {
  readonly id = 'search';
  readonly title = 'Search';
  readonly area = 'side' as const;
  private ticket = 0;

  constructor(private readonly shell: Shell) {}

  mount(el: HTMLElement): void {
    const input = h('input', { id: 'search-query', type: 'search', placeholder: 'Search (Enter)', spellcheck: 'false' });
    const regex = h('input', { type: 'checkbox', id: 'search-regex' });
    const cased = h('input', { type: 'checkbox', id: 'search-case' });
    const names = h('input', { type: 'checkbox', id: 'search-names' });
    const summary = h('div', { class: 'summary' });
    const results = h('ul', { class: 'results', id: 'search-results' });
    el.classList.add('search');
    el.append(input,
      h('div', { class: 'options' },
        h('label', {}, regex, ' regex'), h('label', {}, cased, ' match case'), h('label', {}, names, ' file names')),
      summary, results);
    const go = async () => {
      const query = input.value;
      const t = ++this.ticket;
      if (!query) { results.replaceChildren(); summary.textContent = ''; return; }
      summary.textContent = 'searching…';
      try {
        if (names.checked) {
          const r = await this.shell.rpc.call<{ results: { path: string }[]; total: number }>('files.find', { query, maxResults: MAX_RESULTS, pageSize: MAX_RESULTS });
          if (t !== this.ticket) return;
          summary.textContent = `${r.results.length} files`;
          results.replaceChildren(...r.results.map((m) => this.item(m.path, h('span', { class: 'path' }, m.path))));
        } else {
          const r = await this.shell.rpc.call<{ results: Match[]; total: number; limitHit: boolean }>('files.search', {
            query, regex: regex.checked, caseSensitive: cased.checked ? true : undefined, maxResults: MAX_RESULTS, pageSize: MAX_RESULTS,
          });
          if (t !== this.ticket) return;
          summary.textContent = `${r.total} matches${r.limitHit ? ' (more not shown)' : ''}`;
          results.replaceChildren(...r.results.map((m) => this.item(m.path,
            h('span', { class: 'path' }, `${m.path}:${m.line}`), h('span', { class: 'text' }, m.text.trim()),
            { line: m.line - 1, character: m.column })));
        }
      } catch (e) {
        if (t === this.ticket) summary.textContent = (e as Error).message;
      }
    };
    input.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); void go(); } });
    for (const c of [regex, cased, names]) c.addEventListener('change', () => void go());
  }

  private item(path: string, ...rest: (Node | { line: number; character: number })[]): HTMLElement {
    const at = rest.find((x): x is { line: number; character: number } => !(x instanceof Node));
    const li = h('li', { 'data-path': path }, ...rest.filter((x): x is Node => x instanceof Node));
    li.addEventListener('click', () => this.shell.openFile(path, at));
    return li;
  }
}
