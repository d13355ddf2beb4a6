import type { WebContext } from '../context.js';
import { h, errorMessage, timeOf } from './dom.js';
import { diffLineClass } from './format.js';

/**
 * The history panel: the current file's versions (`docs.history`, newest first, paged with
 * `nextBefore`), a diff of a version against the current text (`docs.diff`, live text included),
 * and restore (`docs.restore`, never destructive: it records a new version). Refreshed when the
 * file changes, when shown, and on `docs.saved` for the file.
 */
interface Version {
  version: number;
  time: number | string;
  author?: { name?: string; kind?: string; connectionId?: string };
  size: number;
  label?: string;
  name?: string;
}

export function registerHistoryPanel(ctx: WebContext): void {
  let list: HTMLElement | undefined;
  let diff: HTMLElement | undefined;
  let title: HTMLElement | undefined;
  let more: HTMLButtonElement | undefined;
  let shownFor: string | undefined;
  let nextBefore: number | undefined;
  let loading = 0;
  let stale = true;
  // Panels have no "hidden" hook: the panel is visible while its element is laid out.
  const visible = () => !!list && list.offsetParent !== null;

  async function load(reset: boolean) {
    const path = ctx.file;
    if (!list || !title || !more || !diff) return;
    if (reset) {
      list.textContent = '';
      diff.textContent = '';
      nextBefore = undefined;
    }
    shownFor = path;
    stale = false;
    title.textContent = path ? `History of ${path}` : 'No file open';
    more.hidden = true;
    if (!path) return;
    const ticket = ++loading;
    try {
      const params: Record<string, unknown> = { path, limit: 50 };
      if (!reset && nextBefore !== undefined) params.before = nextBefore;
      const r = await ctx.rpc.call<{ versions: Version[]; nextBefore?: number }>('docs.history', params);
      if (ticket !== loading || path !== ctx.file) return;
      if (reset) list.textContent = '';
      for (const v of r.versions) list.append(row(path, v));
      if (!r.versions.length && reset) list.append(h('div', { class: 'icpy-empty' }, 'No versions yet (a save records one).'));
      nextBefore = r.nextBefore;
      more.hidden = nextBefore === undefined;
    } catch (err) {
      if (ticket === loading) list.replaceChildren(h('div', { class: 'icpy-error' }, errorMessage(err)));
    }
  }

  function row(path: string, v: Version): HTMLElement {
    const who = v.author?.name ?? v.author?.connectionId ?? '';
    const note = [v.name ? `★ ${v.name}` : '', v.label ?? ''].filter(Boolean).join(' · ');
    const diffBtn = h('button', { class: 'icpy-btn', 'data-testid': 'history-diff' }, 'Diff');
    diffBtn.addEventListener('click', () => void showDiff(path, v.version));
    const restoreBtn = h('button', { class: 'icpy-btn', 'data-testid': 'history-restore' }, 'Restore');
    restoreBtn.addEventListener('click', () => void restore(path, v.version));
    return h(
      'div',
      { class: 'icpy-history-row', 'data-version': String(v.version) },
      h('span', { class: 'icpy-history-v' }, `v${v.version}`),
      h('span', { class: 'icpy-history-time' }, timeOf(v.time)),
      h('span', { class: `icpy-badge icpy-kind-${v.author?.kind ?? 'system'}` }, v.author?.kind ?? ''),
      h('span', { class: 'icpy-history-who' }, who),
      h('span', { class: 'icpy-history-note' }, note),
      h('span', { class: 'icpy-history-size' }, `${v.size} B`),
      diffBtn,
      restoreBtn,
    );
  }

  async function showDiff(path: string, version: number) {
    if (!diff) return;
    try {
      const r = await ctx.rpc.call<{ diff: string; identical: boolean }>('docs.diff', { path, from: version, to: 'current' });
      diff.replaceChildren();
      if (r.identical) diff.append(h('div', { class: 'icpy-empty' }, `v${version} is the current text.`));
      else for (const line of r.diff.split('\n')) diff.append(h('div', { class: diffLineClass(line) }, line || ' '));
    } catch (err) {
      diff.replaceChildren(h('div', { class: 'icpy-error' }, errorMessage(err)));
    }
  }

  async function restore(path: string, version: number) {
    if (!confirm(`Restore ${path} to v${version}? The current text stays in the history.`)) return;
    try {
      const r = await ctx.rpc.call<{ version: number }>('docs.restore', { path, version });
      ctx.notify(`Restored ${path} from v${version} (now v${r.version})`);
      await load(true);
    } catch (err) {
      ctx.notify(`Restore: ${errorMessage(err)}`, 'error');
    }
  }

  const changed = () => {
    stale = true;
    if (visible()) void load(true);
  };
  ctx.onFileChange(changed);
  ctx.rpc.subscribe(['docs.saved'], (ev) => {
    if (ev.data?.path === ctx.file) changed();
  });

  ctx.addPanel({
    id: 'history',
    title: 'History',
    area: 'bottom',
    mount(el) {
      title = h('span', { class: 'icpy-history-title' });
      const reload = h('button', { class: 'icpy-btn', title: 'Reload' }, '↻');
      reload.addEventListener('click', () => void load(true));
      more = h('button', { class: 'icpy-btn', hidden: true }, 'Older…');
      more.addEventListener('click', () => void load(false));
      list = h('div', { class: 'icpy-history-list', 'data-testid': 'history-list' });
      diff = h('div', { class: 'icpy-diff', 'data-testid': 'history-diff-view' });
      el.append(h('div', { class: 'icpy-panel icpy-history-panel' }, h('div', { class: 'icpy-toolbar' }, title, reload), list, more, diff));
      void load(true);
    },
    shown() {
      if (stale || shownFor !== ctx.file) void load(true);
    },
  });
}
