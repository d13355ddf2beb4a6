// A language server that initializes and then never answers a request: the "hangs" case of
// the robustness proof (icpy must time out with a clear error and stay usable).
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node.js';

const conn = createMessageConnection(new StreamMessageReader(process.stdin), new StreamMessageWriter(process.stdout));
conn.onRequest('initialize', () => ({ capabilities: { textDocumentSync: 2, hoverProvider: true, completionProvider: {} } }));
conn.onRequest('shutdown', () => null);
conn.onNotification('exit', () => process.exit(0));
conn.onRequest(() => new Promise(() => {}));
conn.listen();
