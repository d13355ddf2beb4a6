import type { WebContext } from '../context.js';
import { h, errorMessage, trimChildren } from './dom.js';
import { utf8Bytes } from './frames.js';
import { StreamCursor } from './stream-cursor.js';
import { describeCompletion, type Completion } from './format.js';

/**
 * The run panel: `exec.run {path}` on the current file (the server picks the language by
 * extension), output streamed through `exec.attach` (JSON notifications, resumed by byte offset
 * after a reconnect), the completion, and Cancel (`exec.cancel`). F5 runs the current file.
 */
const MAX_CHUNKS = 4000; // output elements kept; older ones are dropped (the run keeps its own copy)

export interface RunPanel {
  runCurrentFile(): Promise<void>;
  cancel(): Promise<void>;
}

export function registerRunPanel(ctx: WebContext): RunPanel {
  let runId: string | undefined;
  let cursor = new StreamCursor();
  let done = true;
  let out: HTMLElement | undefined;
  let status: HTMLElement | undefined;
  let runBtn: HTMLButtonElement | undefined;
  let cancelBtn: HTMLButtonElement | undefined;
  const decoder = new TextDecoder();

  const setStatus = (text: string, kind = '') => {
    if (!status) return;
    status.textContent = text;
    status.dataset.kind = kind;
  };
  const refresh = () => {
    if (runBtn) {
      runBtn.disabled = !ctx.file;
      runBtn.textContent = ctx.file ? `▶ Run ${ctx.file.split('/').pop()}` : '▶ Run';
    }
    if (cancelBtn) cancelBtn.disabled = done;
  };

  ctx.rpc.onNotification('exec.output', (p: { id: string; stream: string; offset: number; data: string }) => {
    if (p.id !== runId || !out) return;
    const { data } = cursor.accept(p.offset, utf8Bytes(p.data));
    if (!data.byteLength) return;
    out.append(h('span', { class: `icpy-run-${p.stream === 'stderr' ? 'stderr' : 'stdout'}` }, decoder.decode(data)));
    trimChildren(out, MAX_CHUNKS);
    out.scrollTop = out.scrollHeight;
  });
  ctx.rpc.onNotification('exec.completed', (c: Completion) => {
    if (c.id !== runId || done) return;
    done = true;
    const ok = !c.error && !c.cancelled && !c.timedOut && c.exitCode === 0;
    setStatus(describeCompletion(c), ok ? 'ok' : 'error');
    refresh();
  });

  async function attach() {
    if (!runId || done) return;
    const id = runId;
    try {
      // The reply comes when the run is over (after exec.completed): output arrives as notifications.
      await ctx.rpc.call('exec.attach', { id, since: cursor.next });
    } catch (err) {
      if (id === runId && !done && ctx.rpc.state === 'open') setStatus(errorMessage(err), 'error');
    }
  }
  ctx.rpc.onOpen(() => void attach()); // a reconnect resumes the output from the last byte shown

  async function runCurrentFile() {
    const path = ctx.file;
    if (!path) {
      ctx.notify('Open a file to run it', 'error');
      return;
    }
    ctx.showPanel('run');
    if (!done && runId) await cancel();
    if (out) out.textContent = '';
    setStatus(`starting ${path}…`, 'running');
    try {
      // Unsaved typing is in the live document, not yet on disk: save it so the run sees it.
      await ctx.rpc.call('docs.save', { path }).catch(() => {});
      const r = await ctx.rpc.call<{ id: string; queued: number }>('exec.run', { path });
      runId = r.id;
      cursor = new StreamCursor();
      done = false;
      setStatus(r.queued ? `queued (${r.queued}) · ${path}` : `running ${path}`, 'running');
      refresh();
      void attach();
    } catch (err) {
      setStatus(errorMessage(err), 'error');
      ctx.notify(`Run ${path}: ${errorMessage(err)}`, 'error');
    }
  }

  async function cancel() {
    if (!runId || done) return;
    try {
      await ctx.rpc.call('exec.cancel', { id: runId });
    } catch (err) {
      ctx.notify(`Cancel: ${errorMessage(err)}`, 'error');
    }
  }

  ctx.onFileChange(refresh);
  window.addEventListener('keydown', (ev) => {
    if (ev.key === 'F5' && !ev.ctrlKey && !ev.metaKey && !ev.altKey) {
      ev.preventDefault(); // not a page reload: in the workspace F5 runs the file, as in IDEs
      void runCurrentFile();
    }
  }, true); // capture: before an editor or terminal handles the key

  ctx.addPanel({
    id: 'run',
    title: 'Run',
    area: 'bottom',
    mount(el) {
      runBtn = h('button', { class: 'icpy-btn', 'data-testid': 'run-button', title: 'Run the current file (F5)' });
      runBtn.addEventListener('click', () => void runCurrentFile());
      cancelBtn = h('button', { class: 'icpy-btn', 'data-testid': 'run-cancel', title: 'Cancel the run' }, '■ Cancel');
      cancelBtn.addEventListener('click', () => void cancel());
      status = h('span', { class: 'icpy-run-status', 'data-testid': 'run-status' });
      out = h('pre', { class: 'icpy-run-output', 'data-testid': 'run-output' });
      el.append(h('div', { class: 'icpy-panel icpy-run-panel' }, h('div', { class: 'icpy-toolbar' }, runBtn, cancelBtn, status), out));
      refresh();
    },
  });
  return { runCurrentFile, cancel };
}
