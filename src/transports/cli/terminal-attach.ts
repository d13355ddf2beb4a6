import { CliError, ExitCode, RpcCallError } from './cli-error.js';
import type { TerminalState } from './terminal-state.js';
import type { WsRpcClient } from './ws-client.js';

/** Ctrl-] — the detach prefix: Ctrl-] d detaches, Ctrl-] Ctrl-] sends one Ctrl-]. */
export const DETACH_PREFIX = 0x1d;
export const DETACH_HELP = 'Ctrl-] d detaches (the terminal keeps running); Ctrl-] Ctrl-] sends a literal Ctrl-]';

export interface AttachOptions {
  ws: WsRpcClient;
  id: string;
  state: TerminalState;
  stdin?: NodeJS.ReadStream;
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
  /** Replay the whole kept scrollback instead of resuming at the remembered offset. */
  fromStart?: boolean;
}

export type AttachEnd = 'detached' | 'exited' | 'closed';

/**
 * Splits keyboard input into bytes for the PTY and a detach request, across chunk boundaries
 * (the prefix may end one read and `d` start the next).
 */
export class DetachKeyFilter {
  private armed = false;

  feed(chunk: Buffer): { send: Buffer; detach: boolean } {
    const out: number[] = [];
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (this.armed) {
        this.armed = false;
        if (b === 0x64 || b === 0x44 || b === 0x04) return { send: Buffer.from(out), detach: true }; // d, D, Ctrl-D
        if (b === DETACH_PREFIX) out.push(DETACH_PREFIX);
        else out.push(DETACH_PREFIX, b);
      } else if (b === DETACH_PREFIX) this.armed = true;
      else out.push(b);
    }
    return { send: Buffer.from(out), detach: false };
  }
}

/**
 * Interactive attach: raw-mode keystrokes to the PTY, output to stdout, SIGWINCH → resize, and
 * the output offset remembered per terminal. On a TTY an attach clears the screen and repaints it
 * from the terminal's recent output (attach `redraw`), starting earlier when output was missed
 * since the remembered offset, so what ran while detached is shown too. Order on the screen:
 * clear, banner, then the terminal's output.
 */
export async function attachTerminal(opts: AttachOptions): Promise<AttachEnd> {
  const { ws, id, state } = opts;
  const stdin = opts.stdin ?? process.stdin;
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const size = () => (stdout.isTTY ? { cols: stdout.columns || 80, rows: stdout.rows || 24 } : {});

  const remembered = opts.fromStart ? undefined : state.offset(id);
  // Offset after the last byte shown; undefined until the attach reply says where output starts.
  let next: number | undefined;
  // Output that arrives before the banner is printed waits here, so the banner never lands
  // inside replayed output (the reply and the first output can arrive in one read).
  let held: { offset: number; data: string }[] | undefined = [];
  let finish!: (end: AttachEnd) => void;
  const ended = new Promise<AttachEnd>((resolve) => (finish = resolve));
  let exitedAt: number | undefined; // output offset at which an exited terminal is fully shown

  const show = (offset: number, data: string) => {
    const len = Buffer.byteLength(data);
    if (next !== undefined && offset + len <= next) return; // already shown
    stdout.write(next !== undefined && offset < next ? Buffer.from(data).subarray(next - offset) : data);
    next = offset + len;
    if (exitedAt !== undefined && next >= exitedAt) finish('exited');
  };

  const offNotify = ws.onNotification((n) => {
    if (n.method === 'terminal.output' && n.params?.id === id) {
      const { offset, data } = n.params as { offset: number; data: string };
      if (held) held.push({ offset, data });
      else show(offset, data);
    } else if (n.method === 'event' && n.params?.data?.id === id) {
      if (n.params.topic === 'terminal.closed') finish('closed');
      else if (n.params.topic === 'terminal.exited') {
        // Show every byte the process wrote before saying it exited.
        ws.call('terminal.list').then(
          (r: { terminals: { id: string; end: number }[] }) => {
            const t = r.terminals.find((x) => x.id === id);
            if (!t) return finish('closed');
            exitedAt = t.end;
            if (next !== undefined && next >= exitedAt) finish('exited');
          },
          () => finish('exited'),
        );
      }
    }
  });

  await ws.call('events.subscribe', { patterns: ['terminal.exited', 'terminal.closed'] });
  // A fresh attach starts with a blank screen: ask for enough recent output to repaint it (as
  // tmux redraws on attach), besides whatever was missed since the remembered offset.
  const redraw = stdout.isTTY ? { redraw: Math.min(Math.max(stdout.rows || 24, 1), 1000) } : {};
  let attached: { offset: number; truncated: boolean; end: number; status: 'running' | 'exited' };
  try {
    attached = await ws.call('terminal.attach', { id, ...(remembered !== undefined ? { since: remembered } : {}), ...redraw, ...size() });
  } catch (err) {
    offNotify();
    if (err instanceof RpcCallError && err.code === 'INVALID_PARAMS' && remembered !== undefined) {
      // A remembered offset from an earlier server with the same URL: start over.
      state.forget(id);
      return attachTerminal({ ...opts, fromStart: true });
    }
    throw err;
  }
  const raw = stdin.isTTY === true;
  // Clear the screen (attributes reset, cursor home) so the replay paints onto a blank one, then
  // the banner, then the replay: the banner always comes before the terminal's output.
  if (stdout.isTTY) stdout.write('\x1b[0m\x1b[H\x1b[2J');
  if (raw) stderr.write(`[icpy: attached to ${id} — ${DETACH_HELP}]\r\n`);
  if (attached.truncated) stderr.write(`[icpy: some output was dropped from the scrollback while you were away]\r\n`);
  next = attached.offset;
  if (attached.status === 'exited') exitedAt = attached.end;
  const early = held;
  held = undefined;
  for (const o of early) show(o.offset, o.data);
  if (exitedAt !== undefined && next >= exitedAt) finish('exited');

  const filter = new DetachKeyFilter();
  const onData = (chunk: Buffer | string) => {
    const { send, detach } = filter.feed(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    if (send.length) ws.notify('terminal.write', { id, data: send.toString('utf8') });
    if (detach) finish('detached');
  };
  const onResize = () => {
    const s = size();
    if ('cols' in s) ws.call('terminal.resize', { id, ...s }).catch(() => undefined);
  };
  const onSignal = () => finish('detached');

  if (raw) stdin.setRawMode(true);
  stdin.on('data', onData);
  stdin.resume();
  process.on('SIGWINCH', onResize);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  if (!raw) process.on('SIGINT', onSignal);
  const lost = ws.closed.then(() => 'lost' as const);

  let end: AttachEnd | 'lost';
  try {
    end = await Promise.race([ended, lost]);
  } finally {
    stdin.off('data', onData);
    stdin.pause();
    if (raw) stdin.setRawMode(false);
    process.off('SIGWINCH', onResize);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    process.off('SIGINT', onSignal);
    offNotify();
  }
  if (end === 'lost') {
    state.save(id, next);
    throw new CliError(ExitCode.NoServer, `connection to the icpy server lost; re-attach with: icpy terminal ${id}`);
  }
  if (end === 'detached') {
    state.save(id, next);
    await ws.call('terminal.detach', { id }).catch(() => undefined);
    stderr.write(`\r\n[icpy: detached from ${id}; it keeps running. Re-attach: icpy terminal ${id}]\r\n`);
  } else {
    state.forget(id);
    stderr.write(`\r\n[icpy: terminal ${id} ${end === 'exited' ? 'has exited' : 'was closed'}]\r\n`);
  }
  return end;
}
