import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DisposableStore, toDisposable } from '../core/lifecycle.js';
import {
  ExecService,
  createExecMethods,
  execEvents,
  findExecutable,
  languageTable,
  type RunRecord,
  bubblewrapSandbox,
  sandboxHidePaths,
} from '../services/exec/index.js';
import { SqliteExecHistory, STATE_DIR_NAME } from '../storage/index.js';
import { runtimeDir } from '../transports/cli/runtime-file.js';
import type { AppModule } from './modules.js';

/** icpy's own node_modules (tsx lives there): readable inside the sandbox. */
const ICPY_NODE_MODULES = fileURLToPath(new URL('../../node_modules', import.meta.url));


/** Code execution (exec.*): the service, its SQLite history (<root>/.icpy/exec.db), methods, events. */
export const execModule: AppModule = {
  name: 'exec',
  setup(ctx) {
    const store = new DisposableStore();
    const cfg = ctx.config.exec;
    const history = store.add(new SqliteExecHistory<RunRecord>(join(ctx.config.root, STATE_DIR_NAME), cfg.historyMaxRuns));
    const timeBin = ['/usr/bin/time'].find((p) => existsSync(p));
    const service = new ExecService({
      root: ctx.config.root,
      broker: ctx.broker,
      logger: ctx.logger,
      languages: languageTable(cfg.languages),
      limits: { ...cfg, sandboxAgents: cfg.sandboxAgents !== 0 },
      tools: {
        timeBin,
        prlimitBin: findExecutable('prlimit', process.env.PATH) ?? (existsSync('/usr/bin/prlimit') ? '/usr/bin/prlimit' : undefined),
        // bwrap is looked for when a sandboxed run asks; missing → SANDBOX_UNAVAILABLE, never unsandboxed.
        sandbox: bubblewrapSandbox(cfg.bwrapPath ? { path: cfg.bwrapPath } : {}),
        hide: sandboxHidePaths({ root: ctx.config.root, runtimeDir: runtimeDir(ctx.config.runtimeDir), env: process.env }),
        extraReadOnly: existsSync(ICPY_NODE_MODULES) ? [ICPY_NODE_MODULES] : [],
      },
      history,
      maxEventBytes: ctx.config.limits.maxEventBytes,
    });
    // Disposed in reverse: methods go first, then every run is killed, then the history closes.
    store.add(toDisposable(() => service.dispose()));
    store.add(ctx.registry.register(...createExecMethods(service, cfg.maxTimeoutMs)));
    store.add(ctx.registry.registerEvents(...execEvents));
    return store;
  },
};
