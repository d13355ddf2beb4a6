// For scripts forked by lib/procs.mjs: exit when the parent goes away, and report failures.

/** Exit (after `onExit`) when the IPC channel to the parent closes, or on SIGTERM/SIGINT. */
export function exitWithParent(onExit = async () => {}) {
  let exiting = false;
  const bye = async (code = 0) => {
    if (exiting) return;
    exiting = true;
    const force = setTimeout(() => process.exit(code), 3000);
    force.unref();
    try {
      await onExit();
    } finally {
      process.exit(code);
    }
  };
  process.on('disconnect', () => void bye(0));
  process.once('SIGTERM', () => void bye(0));
  process.once('SIGINT', () => void bye(0));
  const fail = (err) => {
    try {
      process.send?.({ type: 'error', message: String(err?.stack ?? err) });
    } catch {
      /* parent gone */
    }
    void bye(1);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
}

export function send(msg) {
  if (process.connected) process.send(msg);
}
