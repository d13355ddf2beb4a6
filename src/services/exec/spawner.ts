import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { processAlive } from '../process-tree.js';

/**
 * Who starts a run's process. `fork()` copies the page tables of the process that calls it, on
 * its event loop: libuv's spawn from a 150 MB server takes ~3.5 ms, from a 350 MB one ~8 ms (and
 * grows with the heap), during which no other client is served and the program has not started.
 * So runs are started by a small helper process (spawn-helper.js, ~40 MB, forked once): the server
 * sends it the command line and the paths of the output files over IPC and gets the pid back.
 * Without the helper (it could not start, or died) runs are spawned directly, as before.
 */
export interface SpawnRequest {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** The output files: paths (still linked, in the run's private folder) for the helper, descriptors for a direct spawn. */
  stdoutPath: string;
  stderrPath: string;
  stdoutFd: number;
  stderrFd: number;
}

export interface SpawnEvents {
  /** Started (its own session and process group); once, or `onError` instead. */
  onSpawn(pid: number): void;
  onError(err: Error): void;
  onExit(code: number | null, signal: NodeJS.Signals | null): void;
  /** Its stdio closed (after onExit). */
  onClose(): void;
}

/** The started process's stdin. */
export interface SpawnedStdin {
  /** `written` runs once the data has gone into the program's stdin pipe (or could not: the program is gone). */
  write(data: string, written: () => void): void;
  end(): void;
}

export interface Spawner {
  spawn(req: SpawnRequest, ev: SpawnEvents): SpawnedStdin;
  dispose(): void;
}

/** child_process.spawn from this process (detached: a session of its own). */
export function spawnDirect(req: SpawnRequest, ev: SpawnEvents): SpawnedStdin {
  let child: ChildProcess;
  try {
    child = spawn(req.file, req.args, { cwd: req.cwd, env: req.env, detached: true, stdio: ['pipe', req.stdoutFd, req.stderrFd] });
  } catch (err) {
    queueMicrotask(() => ev.onError(err as Error));
    return { write() {}, end() {} };
  }
  let started = false;
  child.on('error', (err) => {
    if (!started) ev.onError(err);
  });
  if (child.pid !== undefined) {
    started = true;
    child.stdin!.on('error', () => {
      /* the program closed its stdin (EPIPE): further input is dropped */
    });
    child.on('exit', (code, signal) => ev.onExit(code, signal));
    child.on('close', () => ev.onClose());
    ev.onSpawn(child.pid);
  }
  return {
    write: (d, written) => (child.stdin && !child.stdin.destroyed ? void child.stdin.write(d, () => written()) : written()),
    end: () => void child.stdin?.end(),
  };
}

export const directSpawner: Spawner = { spawn: spawnDirect, dispose() {} };

/** Messages to the helper. */
export type ToHelper =
  | { t: 'spawn'; id: number; file: string; args: string[]; cwd: string; env: Record<string, string>; stdout: string; stderr: string }
  | { t: 'in'; id: number; data: string }
  | { t: 'eof'; id: number };

/** Messages from the helper. */
export type FromHelper =
  /** Up and listening (sent once, at its start). */
  | { t: 'ready'; id: 0 }
  | { t: 'spawned'; id: number; pid: number }
  | { t: 'error'; id: number; message: string; code?: string }
  | { t: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null }
  | { t: 'close'; id: number }
  /** One `in` has gone into the program's stdin (in order, one per `in`). */
  | { t: 'wrote'; id: number };

interface Pending {
  ev: SpawnEvents;
  pid: number | undefined;
  exited: boolean;
  /** `written` callbacks of the `in`s not yet answered by `wrote`, in order. */
  writes: (() => void)[];
}

/** The helper's script and Node flags: the built file, or (from the sources, under tests) the .ts through icpy's tsx. */
function helperScript(): { path: string; execArgv: string[] } | undefined {
  const js = fileURLToPath(new URL('./spawn-helper.js', import.meta.url));
  if (existsSync(js)) return { path: js, execArgv: [] };
  const ts = fileURLToPath(new URL('./spawn-helper.ts', import.meta.url));
  if (!existsSync(ts)) return undefined;
  try {
    return { path: ts, execArgv: ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href] };
  } catch {
    return undefined;
  }
}
/** After the helper died, a run it started is looked at this often until its process is gone. */
const ORPHAN_POLL_MS = 50;

/**
 * Runs started by the helper process. The helper is forked at the first run (which, like every
 * run until the helper says `ready`, is spawned directly: nobody waits for a Node start) and lives until
 * `dispose` (or the server's exit: it exits when its IPC channel closes). Should it die, runs it
 * started are followed by their pid (their exit code then comes from GNU time's report) and new
 * runs start directly until a new helper is up.
 */
export class HelperSpawner implements Spawner {
  private helper: ChildProcess | undefined;
  /** The helper said `ready`: runs go to it (before that they are spawned directly, not kept waiting for its start). */
  private ready = false;
  /** A helper died once (the next run starts another); twice: runs are spawned directly from then on. */
  private failedOnce = false;
  private failed = false;
  private disposed = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly timers = new Set<NodeJS.Timeout>();

  private readonly script = helperScript();

  spawn(req: SpawnRequest, ev: SpawnEvents): SpawnedStdin {
    const helper = this.ensure();
    if (!helper || !this.ready) return spawnDirect(req, ev);
    const id = this.nextId++;
    const p: Pending = { ev, pid: undefined, exited: false, writes: [] };
    this.pending.set(id, p);
    const send = (m: ToHelper) => {
      if (helper.connected) helper.send(m);
    };
    send({ t: 'spawn', id, file: req.file, args: req.args, cwd: req.cwd, env: req.env, stdout: req.stdoutPath, stderr: req.stderrPath });
    return {
      write: (data, written) => {
        // Gone (closed, or the helper with it): nothing holds the data any more.
        if (this.pending.get(id) !== p) return written();
        p.writes.push(written);
        send({ t: 'in', id, data });
      },
      end: () => send({ t: 'eof', id }),
    };
  }

  private ensure(): ChildProcess | undefined {
    if (this.disposed || this.failed || !this.script) return undefined;
    if (this.helper) return this.helper;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'ICPY_TOKEN') env[k] = v;
    let helper: ChildProcess;
    try {
      helper = fork(this.script.path, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], serialization: 'json', execArgv: this.script.execArgv, env });
    } catch {
      this.failed = true;
      return undefined;
    }
    this.helper = helper;
    this.ready = false;
    helper.on('message', (m: FromHelper) => (m.t === 'ready' ? void (this.ready = true) : this.onMessage(m)));
    helper.on('error', () => this.lost(helper));
    helper.on('exit', () => this.lost(helper));
    // Not a reason for the server to stay up.
    helper.unref();
    (helper as unknown as { channel?: { unref(): void } }).channel?.unref();
    return helper;
  }

  private onMessage(m: FromHelper): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    switch (m.t) {
      case 'spawned':
        p.pid = m.pid;
        p.ev.onSpawn(m.pid);
        break;
      case 'error': {
        this.pending.delete(m.id);
        const err = new Error(m.message) as NodeJS.ErrnoException;
        if (m.code) err.code = m.code;
        p.ev.onError(err);
        break;
      }
      case 'exit':
        p.exited = true;
        p.ev.onExit(m.code, m.signal);
        break;
      case 'wrote':
        p.writes.shift()?.();
        break;
      case 'close':
        this.pending.delete(m.id);
        for (const w of p.writes.splice(0)) w();
        p.ev.onClose();
        break;
    }
  }

  /** The helper is gone: what it started is followed by pid; the next run starts a new helper (or directly, if it failed twice). */
  private lost(helper: ChildProcess): void {
    if (this.helper !== helper) return;
    this.helper = undefined;
    this.ready = false;
    if (this.failedOnce) this.failed = true;
    this.failedOnce = true;
    const orphans = [...this.pending.values()];
    this.pending.clear();
    for (const p of orphans) {
      for (const w of p.writes.splice(0)) w();
      if (p.pid === undefined) {
        p.ev.onError(new Error('the process starter (spawn helper) died'));
        continue;
      }
      const pid = p.pid;
      const poll = () => {
        if (processAlive(pid)) {
          const t = setTimeout(() => (this.timers.delete(t), poll()), ORPHAN_POLL_MS);
          this.timers.add(t);
          return;
        }
        if (!p.exited) p.ev.onExit(null, null);
        p.ev.onClose();
      };
      poll();
    }
  }

  dispose(): void {
    this.disposed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const h = this.helper;
    this.helper = undefined;
    if (h && h.exitCode === null && h.signalCode === null) {
      if (h.connected) h.disconnect();
      h.kill('SIGTERM');
    }
  }
}
