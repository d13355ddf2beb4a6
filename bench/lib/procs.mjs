// Child-process bookkeeping for benchmarks: every child started here is killed when the bench
// exits, whether it finishes, throws, or is interrupted, so a bench never leaves a process behind.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';

const children = new Set();

function killAll() {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  children.clear();
}

process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    killAll();
    process.exit(130);
  });
}
process.on('uncaughtException', (err) => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  killAll();
  process.exit(1);
});
process.on('unhandledRejection', (err) => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  killAll();
  process.exit(1);
});

/**
 * Fork a Node script with an IPC channel (structured-clone serialization). The child should exit
 * when the channel disconnects (see lib/ipc-child.mjs), which covers a parent killed with SIGKILL.
 */
export function forkChild(script, args = [], options = {}) {
  const child = fork(script, args, {
    serialization: 'advanced',
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    ...options,
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Wait for the first IPC message of a given type (rejects if the child exits first or on timeout). */
export function nextMessage(child, type, timeoutMs = 60_000) {
  return new Promise((resolve, reject) => {
    const onMsg = (m) => {
      if (m && m.type === type) {
        cleanup();
        resolve(m);
      } else if (m && m.type === 'error') {
        cleanup();
        reject(new Error(`child ${child.pid}: ${m.message}`));
      }
    };
    const onExit = (code, sig) => {
      cleanup();
      reject(new Error(`child ${child.pid} exited (${code ?? sig}) while waiting for '${type}'`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for '${type}' from child ${child.pid}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMsg);
      child.off('exit', onExit);
    };
    child.on('message', onMsg);
    child.once('exit', onExit);
  });
}

/** Ask a child something and wait for the answer of the same type + '.ok'. */
export async function ask(child, msg, timeoutMs) {
  const p = nextMessage(child, `${msg.cmd}.ok`, timeoutMs);
  child.send(msg);
  return p;
}

/** Stop a child politely (SIGTERM), then SIGKILL after `graceMs`. */
export async function stopChild(child, graceMs = 3000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** CPU time (user + system, in ms) a process has used so far, from /proc/<pid>/stat. */
export function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 (1-based) of the full line = 11 and 12 after ')'.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLK_TCK;
}
const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) is 100 on Linux x86-64 and arm64

/** Resident set size of a process in bytes, from /proc/<pid>/status (VmRSS). */
export function rssBytes(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Machine-wide CPU counters (ms, summed over cores) from /proc/stat: busy and total. */
export function machineCpuMs() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = f[3] + (f[4] ?? 0);
  return { busy: ((total - idle) * 1000) / CLK_TCK, total: (total * 1000) / CLK_TCK };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
