// A real icpy server (createApp from src/, so no build is needed) in its own process, so a test can
// measure the server's memory apart from its clients'. Run with `--import tsx --expose-gc`.
// IPC: sends {type:'ready', url, pid}; answers {cmd:'mem'} with {type:'mem.ok', rss, heapUsed,
// external, arrayBuffers} after two forced GCs; exits when the channel closes.
import { createApp } from '../../src/app/create-app.js';

const [root, token] = process.argv.slice(2);
const app = await createApp({ root, token, host: '127.0.0.1', port: 0, logLevel: 'silent' });
const { url } = await app.listen();

const gc = (globalThis as { gc?: () => void }).gc;
process.on('message', (m: { cmd?: string }) => {
  if (m?.cmd === 'mem') {
    gc?.();
    gc?.();
    const mem = process.memoryUsage();
    process.send?.({ type: 'mem.ok', rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external, arrayBuffers: mem.arrayBuffers, gc: !!gc });
  }
});
process.on('disconnect', () => {
  void app.close().finally(() => process.exit(0));
});
process.send?.({ type: 'ready', url, pid: process.pid });
