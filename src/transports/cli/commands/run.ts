import { constants } from 'node:os';
import { extname } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { CliError, ExitCode, RpcCallError, usageError } from '../cli-error.js';
import type { Command, CommandContext } from '../command.js';
import { exitStatus, RunOutput } from '../run-output.js';
import type { Notification, WsRpcClient } from '../ws-client.js';

const USAGE = `Usage: icpy run FILE [-- ARGS…]              run a workspace file (language from its extension)
       icpy run -l LANG -c CODE [-- ARGS…]      run CODE
Options:
  -l, --language LANG   python | javascript | typescript | bash, or one the server adds by
                        configuration (default: from FILE's extension: .py .js .mjs .cjs .ts
                        .mts .cts .sh .bash)
  -c, --code CODE       the program text instead of a FILE
  --cwd DIR             working folder (default: the current folder when inside the workspace)
  --timeout SECONDS     wall-clock limit (default: the server's exec.defaultTimeoutMs)
  --memory MB           memory limit     --cpu SECONDS   CPU-time limit
  --sandbox             run under bubblewrap: workspace read-write, no network, the rest read-only
  --detach              keep the run going when this command is interrupted by a lost connection
  --json                no live output: one JSON result at the end {id, exitCode, signal, stdout,
                        stderr, durationMs, timedOut, truncated, cancelled, cpuMs, maxRssKb,
                        error}

Output is live: the program's stdout to stdout, its stderr to stderr. stdin is forwarded (a pipe
to its end, a terminal line by line; Ctrl-D ends it). Ctrl-C cancels the run (exec.cancel) and
exits 130. The exit code is the program's (killed by a signal: 128+N). icpy's options go
before FILE; every word after FILE is the program's (as with python3 FILE ARGS); with -c, put
ARGS after '--' when one starts with '-'.
Examples:
  icpy run script.py --verbose data.csv
  echo world | icpy run -l python -c 'print("hello", input())'
  icpy run build.sh --timeout 600 --agent claude`;

/** Language of a file from its extension, for the languages every server has. */
const BY_EXTENSION: Record<string, string> = {
  '.py': 'python',
  '.js': 'javascript',
  '.mjs': 'javascript',
  '.cjs': 'javascript',
  '.ts': 'typescript',
  '.mts': 'typescript',
  '.cts': 'typescript',
  '.sh': 'bash',
  '.bash': 'bash',
};

/** How long Ctrl-C waits for the cancelled run to report its end before exiting anyway. */
const CANCEL_WAIT_MS = 10_000;

/** exec.completed (docs/protocol/exec.md). */
interface Completed {
  id: string;
  exitCode: number | null;
  signal: string | null;
  durationMs: number;
  timedOut: boolean;
  cancelled: boolean;
  truncated: boolean;
  cpuMs: number | null;
  maxRssKb: number | null;
  /** Why the program could not start. */
  error: string | null;
}

export const runCommand: Command = {
  name: 'run',
  summary: 'run a program',
  usage: USAGE,
  optionsEndAtFirstPositional: true,
  options: {
    language: { type: 'string', short: 'l' },
    code: { type: 'string', short: 'c' },
    cwd: { type: 'string' },
    timeout: { type: 'string' },
    memory: { type: 'string' },
    cpu: { type: 'string' },
    sandbox: { type: 'boolean' },
    detach: { type: 'boolean' },
  },
  async run(ctx) {
    const params = await runParams(ctx);
    return follow(ctx, params);
  },
};

/** The exec.run params from the command line. */
async function runParams(ctx: CommandContext): Promise<Record<string, unknown>> {
  const v = ctx.values;
  const code = v.code as string | undefined;
  let language = v.language as string | undefined;
  const params: Record<string, unknown> = {};
  let args: string[];
  if (code !== undefined) {
    if (!language) throw usageError('run: -c CODE needs -l LANG (python, javascript, typescript, bash)', USAGE);
    params.code = code;
    args = ctx.positionals;
  } else {
    const [file, ...rest] = ctx.positionals;
    if (!file) throw usageError('run: FILE or -l LANG -c CODE missing', USAGE);
    // Unknown here: the server picks it from the extension (languages added by configuration).
    language ??= BY_EXTENSION[extname(file).toLowerCase()];
    params.path = await ctx.serverPath(file);
    args = rest;
  }
  if (language) params.language = language;
  if (args.length) params.args = args;
  const cwd = v.cwd !== undefined ? await ctx.serverPath(v.cwd as string) : await cwdInRoot(ctx);
  if (cwd !== undefined && cwd !== '.') params.cwd = cwd;
  const timeout = numberOption(v.timeout, 'timeout');
  if (timeout !== undefined) params.timeoutMs = Math.round(timeout * 1000);
  const memory = numberOption(v.memory, 'memory');
  if (memory !== undefined) params.memoryMb = Math.ceil(memory);
  const cpu = numberOption(v.cpu, 'cpu');
  if (cpu !== undefined) params.cpuSeconds = Math.ceil(cpu); // RLIMIT_CPU counts whole seconds
  if (v.sandbox) params.sandbox = true;
  // The run belongs to this command unless asked otherwise: if the CLI dies (kill -9, lost
  // connection), the server kills the run instead of leaving it behind.
  params.detach = v.detach === true;
  return params;
}

function numberOption(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || n <= 0) throw usageError(`run: --${name} must be a positive number`, USAGE);
  return n;
}

/** Runs start in the current folder when it lies inside the workspace. */
async function cwdInRoot(ctx: CommandContext): Promise<string | undefined> {
  const rel = await ctx.serverPath(ctx.cwd);
  return rel.startsWith('/') ? undefined : rel;
}

/**
 * Start the run over the WebSocket and follow it to its end. Output is asked for from offset 0
 * (exec.attach since 0: the server keeps a run's output whole up to its cap), so nothing written
 * between the start of the run and this client's attach is lost; RunOutput drops any byte that
 * arrives twice. Queue events that arrive before exec.run's reply names the run are held.
 */
async function follow(ctx: CommandContext, params: Record<string, unknown>): Promise<number> {
  const json = ctx.out.json;
  const ws = await ctx.ws();
  const output = new RunOutput();
  const collected = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  let id: string | undefined;
  const early: Notification[] = [];
  let completed: Completed | undefined;
  let finish!: () => void;
  const ended = new Promise<void>((resolve) => (finish = resolve));
  const tty = process.stderr.isTTY === true;
  const note = (msg: string) => process.stderr.write(`icpy: ${msg}\n`);

  const onOutput = (p: { id: string; stream: string; offset: number; data: string }) => {
    const bytes = output.take(p.stream, p.offset, Buffer.from(p.data, 'utf8'));
    if (!bytes.length) return;
    const stream = p.stream === 'stderr' ? 'stderr' : 'stdout';
    if (json) collected[stream].push(bytes);
    else (stream === 'stderr' ? process.stderr : process.stdout).write(bytes);
  };
  const handle = (n: Notification) => {
    // exec.attach sends the output, then exec.completed, as notifications on this connection (in
    // that order: the completion comes after the last byte); the queue position is an event.
    const data = n.method === 'event' ? n.params?.data : n.params;
    if (!data || typeof data !== 'object' || data.id !== id) return;
    if (n.method === 'exec.output') onOutput(data);
    else if (n.method === 'exec.completed') {
      completed ??= data as Completed;
      finish();
    } else if (n.method === 'event' && n.params.topic === 'exec.queued' && tty && !json) note(`queued: position ${data.position}`);
  };
  const off = ws.onNotification((n) => (id === undefined ? early.push(n) : handle(n)));

  // Ctrl-C cancels; a second one stops waiting for the cancelled run.
  let interrupted: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted !== undefined) return finish();
    interrupted = 128 + (constants.signals[signal] ?? 2);
    if (id !== undefined) cancel(ws, id);
    setTimeout(finish, CANCEL_WAIT_MS).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  let stopStdin = () => {};
  try {
    // Only the queue position: output comes by exec.attach, not as (everyone's) exec.output events.
    if (tty && !json) await ws.call('events.subscribe', { patterns: ['exec.queued'] });
    let started: { id: string; queued?: number };
    try {
      started = (await ws.call('exec.run', params)) as { id: string; queued?: number };
    } catch (err) {
      if (err instanceof RpcCallError && err.code === 'INVALID_PARAMS') {
        const hint = err.data?.field === 'language' && params.path !== undefined && params.language === undefined ? `; pass -l LANG` : '';
        throw usageError(`run: ${err.message.replace(/^Invalid params: /, '')}${hint}`, USAGE);
      }
      throw err;
    }
    id = started.id;
    for (const n of early.splice(0)) handle(n);
    if (interrupted !== undefined) cancel(ws, id);
    if (started.queued && tty && !json) note(`all run slots are busy: queued at position ${started.queued}`);
    await ws.call('exec.attach', { id, since: 0 });
    stopStdin = forwardStdin(ws, id);
    await Promise.race([ended, ws.closed.then(() => undefined)]);
  } finally {
    off();
    stopStdin();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
  if (!completed) {
    if (interrupted !== undefined) {
      if (!json) note(`cancelled run ${id}`);
      return interrupted;
    }
    throw new CliError(ExitCode.NoServer, `connection to the icpy server lost while run ${id} was going${params.detach ? ` (it keeps running on the server: icpy call exec.list)` : ' (the server stops it)'}`);
  }
  if (json) {
    ctx.out.jsonLine({
      id,
      exitCode: completed.exitCode,
      signal: completed.signal,
      stdout: Buffer.concat(collected.stdout).toString('utf8'),
      stderr: Buffer.concat(collected.stderr).toString('utf8'),
      durationMs: completed.durationMs,
      timedOut: completed.timedOut,
      truncated: completed.truncated,
      cancelled: completed.cancelled || interrupted !== undefined,
      cpuMs: completed.cpuMs,
      maxRssKb: completed.maxRssKb,
      error: completed.error,
    });
  } else {
    if (completed.error) note(`run ${id} could not start: ${completed.error}`);
    if (completed.timedOut) note(`run ${id} timed out${params.timeoutMs ? ` after ${Number(params.timeoutMs) / 1000} s` : ''} and was killed`);
    if (completed.truncated) note(`output of run ${id} was truncated (limit exec.maxOutputBytes)`);
    if (interrupted !== undefined) note(`cancelled run ${id}`);
    else if (completed.cancelled) note(`run ${id} was cancelled on the server (exec.cancel or server shutdown)`);
  }
  if (interrupted !== undefined) return interrupted;
  if (completed.error && completed.exitCode === null && completed.signal === null) return ExitCode.CallFailed;
  return exitStatus(completed.exitCode, completed.signal, constants.signals as Record<string, number>);
}

function cancel(ws: WsRpcClient, id: string): void {
  ws.call('exec.cancel', { id }).catch(() => undefined);
}

/**
 * stdin → exec.write, one chunk at a time (the read pauses until the server took the chunk, so a
 * fast producer cannot pile up in memory); end of input → eof. A terminal is read line by line
 * as typed (cooked mode). Returns the stop function; it releases stdin so the command can exit
 * while a producer is still writing.
 */
function forwardStdin(ws: WsRpcClient, id: string): () => void {
  const stdin = process.stdin;
  let stopped = false;
  // A chunk may end inside a UTF-8 character: the decoder keeps its first bytes for the next one.
  const decoder = new StringDecoder('utf8');
  const onData = (chunk: Buffer | string) => {
    const data = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    if (!data) return;
    stdin.pause();
    const send = () =>
      ws.call('exec.write', { id, data }).then(
        () => void (stopped || stdin.resume()),
        (err: unknown) => {
          // A queued run holds only so much input: wait for it to start and read some.
          if (err instanceof RpcCallError && err.code === 'LIMIT_EXCEEDED' && !stopped) setTimeout(send, 200).unref();
          else stop(); // the run ended or closed its stdin: stop forwarding
        },
      );
    void send();
  };
  const onEnd = () => {
    if (!stopped) ws.call('exec.write', { id, data: decoder.end(), eof: true }).catch(() => undefined);
  };
  const stop = () => {
    if (stopped) return;
    stopped = true;
    stdin.off('data', onData);
    stdin.off('end', onEnd);
    stdin.pause();
    stdin.destroy();
  };
  stdin.on('data', onData);
  stdin.once('end', onEnd);
  stdin.once('error', stop);
  return stop;
}
