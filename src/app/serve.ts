import { parseArgs } from 'node:util';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { describeError } from '../core/logger.js';
import { removeRuntimeFile, runtimeDir, writeRuntimeFile } from '../transports/cli/runtime-file.js';
import { createApp, VERSION, type App } from './create-app.js';
import { ServerLockedError } from './server-lock.js';

const USAGE = `Usage: icpy serve [DIR] [--host 127.0.0.1] [--port 8000] [--token T]
                  [--allow-origin ORIGIN]... [--allow-host HOST]... [--log-level info]
                  [--read-only]

Serve the workspace DIR (default: the current folder). Env: ICPY_TOKEN, ICPY_PORT, ICPY_HOST.
--read-only (env ICPY_READ_ONLY=1): the token grants only the 'read' scope; writes, terminals
and other write/execute methods answer FORBIDDEN.
Prints one line with the URL (http://HOST:PORT/?token=T) and writes a runtime file that the
icpy command uses to find this server. Stops cleanly on SIGINT/SIGTERM.`;

export interface Served {
  app: App;
  runtimeFile: string;
  stop(): Promise<void>;
}

export async function serve(argv: string[]): Promise<Served | undefined> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        token: { type: 'string' },
        'allow-origin': { type: 'string', multiple: true },
        'allow-host': { type: 'string', multiple: true },
        'log-level': { type: 'string' },
        'read-only': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    process.stderr.write(`icpy serve: ${(err as Error).message}\n\n${USAGE}\n`);
    process.exitCode = 2;
    return undefined;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return undefined;
  }
  if (positionals.length > 1) {
    process.stderr.write(`icpy serve: one folder at most\n\n${USAGE}\n`);
    process.exitCode = 2;
    return undefined;
  }
  const root = resolve(positionals[0] ?? '.');
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    process.stderr.write(`icpy serve: '${root}' ${existsSync(root) ? 'is not a folder' : 'does not exist'}\n`);
    process.exitCode = 2;
    return undefined;
  }
  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      process.stderr.write(`icpy serve: --port must be 0-65535\n`);
      process.exitCode = 2;
      return undefined;
    }
  }
  const logLevel = values['log-level'] as 'debug' | 'info' | 'warn' | 'error' | 'silent' | undefined;
  if (logLevel && !['debug', 'info', 'warn', 'error', 'silent'].includes(logLevel)) {
    process.stderr.write(`icpy serve: --log-level must be debug|info|warn|error|silent\n`);
    process.exitCode = 2;
    return undefined;
  }

  let app: App;
  try {
    app = await createApp({
      root,
      host: values.host,
      port,
      token: values.token,
      allowedOrigins: values['allow-origin'],
      allowedHosts: values['allow-host'],
      logLevel,
      readOnly: values['read-only'],
    });
  } catch (err) {
    if (!(err instanceof ServerLockedError)) throw err;
    process.stderr.write(`icpy serve: ${err.message}\n`);
    process.exitCode = 1;
    return undefined;
  }
  let url: string;
  try {
    ({ url } = await app.listen());
  } catch (err) {
    process.stderr.write(`icpy serve: cannot listen on ${app.config.host}:${app.config.port}: ${(err as Error).message}\n`);
    await app.close();
    process.exitCode = 1;
    return undefined;
  }
  let runtimeFile: string;
  try {
    runtimeFile = writeRuntimeFile(runtimeDir(app.config.runtimeDir), {
      url,
      token: app.config.token,
      root,
      pid: process.pid,
      startedAt: Date.now(),
      version: VERSION,
    });
  } catch (err) {
    process.stderr.write(`icpy serve: ${(err as Error).message}\n`);
    await app.close();
    process.exitCode = 1;
    return undefined;
  }

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      removeRuntimeFile(runtimeFile);
      await app.close();
    })());
  let stopReason: string | undefined;
  const onSignal = (sig: NodeJS.Signals | 'orphaned') => {
    // Stay subscribed for the whole shutdown: under `npx`, Ctrl-C reaches us twice (from the
    // terminal, and forwarded by npm), and a second default SIGINT would kill us mid-close.
    if (stopReason) return;
    stopReason = sig;
    clearInterval(orphanWatch);
    app.logger.info('shutting down', { signal: sig });
    stop().then(
      () => {
        // Everything is disposed, so the event loop should empty and the process end by itself.
        // If some handle is still open, say which and exit anyway.
        process.exitCode = 0;
        setTimeout(() => {
          process.stderr.write(`icpy: forcing exit; still open: ${process.getActiveResourcesInfo().join(', ')}\n`);
          process.exit(0);
        }, 3000).unref();
      },
      (err) => {
        app.logger.error('shutdown failed', describeError(err));
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const orphanWatch = watchLauncher(() => onSignal('orphaned'));
  process.on('exit', () => removeRuntimeFile(runtimeFile));
  // One misbehaving client or resource must not take the server down: log and carry on.
  process.on('uncaughtException', (err) => app.logger.error('uncaught exception', describeError(err)));
  process.on('unhandledRejection', (err) => app.logger.error('unhandled rejection', describeError(err)));
  // Printed last: once a caller sees the line, signals are handled and the runtime file exists.
  process.stdout.write(`icpy ${VERSION} serving ${root}${app.config.readOnly ? ' (read-only)' : ''} at ${url}/?token=${app.config.token}\n`);
  return { app, runtimeFile, stop };
}

/**
 * `npx icpy serve` runs us as npm → `sh -c 'icpy' serve …` → node. npm forwards SIGTERM/SIGINT
 * only to that shell; dash (Debian's /bin/sh) does not exec its last command, dies of SIGTERM and
 * leaves us running under PID 1. So when started by `npm exec` (npm_lifecycle_event=npx), we
 * watch our parent and stop cleanly as soon as it is gone. Elsewhere (nohup, setsid, systemd)
 * a server outliving its parent is intended, so there is no watch.
 */
function watchLauncher(onOrphaned: () => void): NodeJS.Timeout | undefined {
  if (process.env.npm_lifecycle_event !== 'npx') return undefined;
  const parent = process.ppid;
  if (parent <= 1) return undefined;
  const t = setInterval(() => {
    if (process.ppid !== parent) onOrphaned();
  }, 250);
  t.unref();
  return t;
}
