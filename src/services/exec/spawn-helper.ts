/**
 * The exec service's process starter (see spawner.ts): a small Node process, forked once by the
 * server, that starts runs so the server's own large process is never fork()ed. Over its IPC
 * channel it gets `spawn` (a command line, an environment, a folder and the paths of the run's two
 * output files), `in` / `eof` (the run's stdin); it answers `spawned` (pid) or `error`, then
 * `exit` and `close`. Every run gets a session of its own (detached), as when the server spawns
 * it. It exits when the channel closes (the server is gone); the runs it started are the server's
 * to stop (by process group), not its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import type { FromHelper, ToHelper } from './spawner.js';

const children = new Map<number, ChildProcess>();

function send(m: FromHelper): void {
  if (process.connected) process.send!(m);
}

function start(m: Extract<ToHelper, { t: 'spawn' }>): void {
  let out = -1;
  let err = -1;
  let child: ChildProcess;
  try {
    out = openSync(m.stdout, 'a');
    err = openSync(m.stderr, 'a');
    child = spawn(m.file, m.args, { cwd: m.cwd, env: m.env, detached: true, stdio: ['pipe', out, err] });
  } catch (e) {
    const x = e as NodeJS.ErrnoException;
    send({ t: 'error', id: m.id, message: x.message, code: x.code });
    return;
  } finally {
    if (out >= 0) closeSync(out);
    if (err >= 0) closeSync(err);
  }
  child.stdin!.on('error', () => {
    /* the program closed its stdin (EPIPE): further input is dropped */
  });
  if (child.pid === undefined) {
    child.once('error', (e: NodeJS.ErrnoException) => send({ t: 'error', id: m.id, message: e.message, code: e.code }));
    return;
  }
  children.set(m.id, child);
  child.on('exit', (code, signal) => send({ t: 'exit', id: m.id, code, signal }));
  child.on('close', () => {
    children.delete(m.id);
    send({ t: 'close', id: m.id });
  });
  send({ t: 'spawned', id: m.id, pid: child.pid });
}

process.on('message', (m: ToHelper) => {
  if (m.t === 'spawn') return start(m);
  const child = children.get(m.id);
  if (!child) return;
  if (m.t === 'in') child.stdin!.write(m.data);
  else if (m.t === 'eof') child.stdin!.end();
});

process.on('disconnect', () => process.exit(0));
