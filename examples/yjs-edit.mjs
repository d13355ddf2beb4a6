// Join a file's live document with an unmodified y-websocket provider, print its text, append a
// line (every editor on the file sees it at once; icpy saves it to disk), then leave.
// Usage: TOKEN=… node examples/yjs-edit.mjs [FILE] [http://127.0.0.1:8000]
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';

const file = process.argv[2] ?? 'README.md';
const base = (process.argv[3] ?? 'http://127.0.0.1:8000').replace(/^http/, 'ws');
const ydoc = new Y.Doc();
const provider = new WebsocketProvider(`${base}/api/yjs`, file, ydoc, {
  params: { token: process.env.TOKEN ?? '' },
  WebSocketPolyfill: WebSocket, // Node 20 has no global WebSocket
});
provider.on('connection-close', (event) => {
  if (event && event.code >= 4000) {
    console.error(`refused: ${event.code} ${event.reason}`);
    process.exit(1);
  }
});
provider.once('sync', () => {
  const text = ydoc.getText('content');
  console.log(`${file}: ${text.length} characters`);
  text.insert(text.length, `\nedited live by examples/yjs-edit.mjs at ${new Date().toISOString()}\n`);
  setTimeout(() => {
    provider.destroy();
    process.exit(0);
  }, 200);
});
