// The server under test: exactly `icpy serve DIR ARGS…` (dist/app/serve.js, what bin/icpy.js
// runs), plus an IPC channel so the bench learns the URL, can ask for heap figures (run with
// --expose-gc), and the server dies with the bench.
import { pathToFileURL } from 'node:url';
import { exitWithParent, send } from './ipc-child.mjs';

// ICPY_BENCH_DIST=DIR: serve from another build of icpy (an A/B of two builds in one run); DIR
// must sit inside the repository so its imports resolve node_modules.
const dist = process.env.ICPY_BENCH_DIST ? pathToFileURL(process.env.ICPY_BENCH_DIST + '/').href : new URL('../../dist/', import.meta.url).href;
const { serve } = await import(new URL('app/serve.js', dist).href);
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
