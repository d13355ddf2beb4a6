/**
 * The exec service's process starter (see spawner.ts): a small Node process, forked once by the
 * server, that starts runs so the server's own large process is never fork()ed. Over its IPC
 * channel it gets `spawn` (a command line, an environment, a folder and the paths of the run's two
 * output files), `in` / `eof` (the run's stdin); it answers `spawned` (pid) or `error`, `wrote`
 * for each `in` once it is in the program's stdin pipe, then `exit` and `close`. Every run gets a session of its own (detached), as when the server spawns
 * it. It exits when the channel closes (the server is gone); the runs it started are the server's
 * to stop (by process group), not its own.
 */
import { closeSync, openSync } from 'node:fs';
import { spawnDirect, type FromHelper, type SpawnedStdin, type ToHelper } from './spawner.js';

const stdins = new Map<number, SpawnedStdin>();

function send(m: FromHelper): void {
  if (process.connected) process.send!(m);
}

/** Open the run's output files by path and start it as the server would (spawnDirect), reporting over IPC. */
function start(m: Extract<ToHelper, { t: 'spawn' }>): void {
  let out = -1;
  let err = -1;
  try {
    out = openSync(m.stdout, 'a');
    err = openSync(m.stderr, 'a');
    const { id } = m;
    const stdin = spawnDirect(
      { file: m.file, args: m.args, cwd: m.cwd, env: m.env, stdoutPath: m.stdout, stderrPath: m.stderr, stdoutFd: out, stderrFd: err },
      {
        onSpawn: (pid) => send({ t: 'spawned', id, pid }),
        onError: (e) => {
          stdins.delete(id);
          send({ t: 'error', id, message: e.message, code: (e as NodeJS.ErrnoException).code });
        },
        onExit: (code, signal) => send({ t: 'exit', id, code, signal }),
        onClose: () => {
          stdins.delete(id);
          send({ t: 'close', id });
        },
      },
    );
    stdins.set(id, stdin);
  } catch (e) {
    const x = e as NodeJS.ErrnoException;
    send({ t: 'error', id: m.id, message: x.message, code: x.code });
  } finally {
    // The program has its own descriptors now.
    if (out >= 0) closeSync(out);
    if (err >= 0) closeSync(err);
  }
}

process.on('message', (m: ToHelper) => {
  if (m.t === 'spawn') return start(m);
  const stdin = stdins.get(m.id);
  if (m.t === 'in') {
    // Every `in` is answered, in order, so the server's count of unread input stays true.
    if (stdin) stdin.write(m.data, () => send({ t: 'wrote', id: m.id }));
    else send({ t: 'wrote', id: m.id });
  } else if (m.t === 'eof') stdin?.end();
});

process.on('disconnect', () => process.exit(0));
send({ t: 'ready', id: 0 });
