// Jupyter Server (Debian `jupyter-server`), the peer the files and terminals benches compare
// against. Started on a free loopback port in its own process group, with a private HOME so it
// reads no user config; killed (whole group) when stopped or when the bench exits.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A free TCP port on 127.0.0.1 (for servers that cannot listen on port 0 and report it). */
export async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise((r) => s.close(r));
  return port;
}

/**
 * Start jupyter-server serving `root`. Resolves `{ url, token, stop }` once `/api/status`
 * answers, or `{ error }` (not installed, exited, or not up within 30 s).
 */
export async function startJupyter({ root, token = 'jt-' + Math.random().toString(36).slice(2), args = [], env = process.env }) {
  const port = await freePort();
  const home = mkdtempSync(join(tmpdir(), 'icpy-bench-jupyter-'));
  mkdirSync(join(home, 'rt'));
  let child;
  try {
    child = spawn(
      'jupyter-server',
      [`--ServerApp.token=${token}`, `--ServerApp.root_dir=${root}`, '--allow-root', `--port=${port}`, '--ip=127.0.0.1', '--no-browser', '--ServerApp.port_retries=0', ...args],
      { stdio: ['ignore', 'ignore', 'pipe'], detached: true, env: { ...env, HOME: home, JUPYTER_RUNTIME_DIR: join(home, 'rt') } },
    );
  } catch (err) {
    return { error: err.message };
  }
  let log = '';
  child.stderr.on('data', (d) => (log = (log + d).slice(-4000)));
  const spawnError = new Promise((resolve) => child.once('error', resolve));
  const stop = () => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    // The private HOME (runtime files, kernel connection files) goes with the server.
    rmSync(home, { recursive: true, force: true });
  };
  process.on('exit', stop);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const failed = await Promise.race([spawnError, new Promise((r) => setTimeout(() => r(undefined), 200))]);
    if (failed) return { error: `jupyter-server: ${failed.message}` };
    if (child.exitCode !== null) break;
    try {
      const res = await fetch(`${url}/api/status`, { headers: { authorization: `token ${token}` } });
      if (res.ok) return { url, token, stop };
    } catch {
      /* not up yet */
    }
  }
  stop();
  return { error: `jupyter-server did not start within 30 s${log ? `:\n${log}` : ''}` };
}
