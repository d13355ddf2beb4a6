import { fileURLToPath } from 'node:url';
import { toDisposable } from '../core/lifecycle.js';
import { TerminalService, createTerminalsMethods, createTerminalEvents } from '../services/terminals/index.js';
import type { AppModule } from './modules.js';

/** bin/path/: holds the `icpy` launcher put first on every terminal's PATH (same from src/ and dist/). */
const ICPY_PATH_DIR = fileURLToPath(new URL('../../bin/path', import.meta.url));

/** Shared, persistent PTY sessions (terminal.*). Every terminal is closed on shutdown. */
export const terminalsModule: AppModule = {
  name: 'terminals',
  setup(ctx) {
    const service = new TerminalService({
      root: ctx.config.root,
      broker: ctx.broker,
      logger: ctx.logger,
      scrollbackBytes: ctx.config.terminalScrollbackBytes,
      idleTimeoutMs: ctx.config.terminalIdleTimeoutMs,
      highWaterBytes: ctx.config.terminalHighWaterBytes,
      stallTimeoutMs: ctx.config.terminalStallTimeoutMs,
      maxTerminals: ctx.config.limits.maxTerminals,
      exitedGraceMs: ctx.config.limits.exitedTerminalGraceMs,
      pathPrepend: [ICPY_PATH_DIR],
    });
    const methods = ctx.registry.register(...createTerminalsMethods(service));
    const events = ctx.registry.registerEvents(...createTerminalEvents((cwd) => service.relativeCwd(cwd)));
    return toDisposable(async () => {
      methods.dispose();
      events.dispose();
      await service.dispose();
    });
  },
};
