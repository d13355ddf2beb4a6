// The server under test: exactly `icpy serve DIR ARGS…` (dist/app/serve.js, what bin/icpy.js
// runs), plus an IPC channel so the bench learns the URL, can ask for heap figures (run with
// --expose-gc), and the server dies with the bench.
import { exitWithParent, send } from './ipc-child.mjs';

const { serve } = await import('../../dist/app/serve.js');
let served;
exitWithParent(async () => {
  await served?.stop();
});
served = await serve(process.argv.slice(2));
if (!served) throw new Error('icpy serve did not start');

process.on('message', (m) => {
  if (m?.cmd === 'mem') {
    if (globalThis.gc) {
      globalThis.gc();
      globalThis.gc();
    }
    send({ type: 'mem.ok', ...process.memoryUsage(), connections: served.app.connections.size });
  }
});
send({ type: 'ready', url: served.app.url, pid: process.pid });
