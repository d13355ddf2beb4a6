// For bench/files: in a fresh process, start a watcher on a tree and report the time to ready
// and the memory it added. Mode 'icpy' starts icpy's FileWatcher (dist); 'raw' subscribes
// @parcel/watcher directly (the baseline).
import { exitWithParent, send } from './ipc-child.mjs';

const [mode, root] = process.argv.slice(2);
exitWithParent();
globalThis.gc?.();
const rss0 = process.memoryUsage().rss;
const t0 = performance.now();
let stop;
if (mode === 'icpy') {
  const { FileWatcher } = await import('../../dist/services/files/index.js');
  const w = new FileWatcher({ root, publish: () => {} });
  await w.start();
  stop = () => w.dispose();
} else {
  const watcher = (await import('@parcel/watcher')).default;
  const sub = await watcher.subscribe(root, () => {}, { ignore: ['.git', 'node_modules', '.icpy'] });
  stop = () => sub.unsubscribe();
}
const readyMs = performance.now() - t0;
// icpy also walks folders in the background (to tell deleted folders from files): let it finish.
await new Promise((r) => setTimeout(r, 1500));
globalThis.gc?.();
const rss1 = process.memoryUsage().rss;
await stop();
send({ type: 'result', readyMs, rssAddedMb: (rss1 - rss0) / 1048576 });
