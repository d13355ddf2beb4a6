// The baseline of bench/lsp: a language server spoken to straight over stdio with vscode-jsonrpc,
// the way an editor without icpy would. The server runs in its own process group, killed with
// the bench however it ends.
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node.js';

const groups = new Set();
function killGroups() {
  for (const pid of groups) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  groups.clear();
}
process.on('exit', killGroups);

/** Client capabilities close to what icpy and monaco-languageclient announce. */
export const CLIENT_CAPABILITIES = {
  workspace: { configuration: true, workspaceFolders: true, applyEdit: true, symbol: {} },
  textDocument: {
    synchronization: { didSave: true, dynamicRegistration: false },
    completion: { completionItem: { snippetSupport: false, documentationFormat: ['markdown', 'plaintext'] } },
    hover: { contentFormat: ['markdown', 'plaintext'] },
    publishDiagnostics: { relatedInformation: true, versionSupport: true },
    definition: {},
    references: {},
    documentSymbol: { hierarchicalDocumentSymbolSupport: true },
  },
  window: { workDoneProgress: true },
};

/**
 * Start `command` (argv) on `root`, initialize it, and return the connection. `onPublish(params,
 * tMs)` sees every textDocument/publishDiagnostics with its arrival time (performance.now()).
 */
export async function startStdioServer(command, root, { onPublish, initializationOptions } = {}) {
  const child = spawn(command[0], command.slice(1), { cwd: root, stdio: ['pipe', 'pipe', 'ignore'], detached: true });
  groups.add(child.pid);
  child.once('exit', () => groups.delete(child.pid));
  const conn = createMessageConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
  conn.onRequest('workspace/configuration', (p) => (p?.items ?? []).map(() => null));
  conn.onRequest('client/registerCapability', () => null);
  conn.onRequest('window/workDoneProgress/create', () => null);
  conn.onNotification('textDocument/publishDiagnostics', (p) => onPublish?.(p, performance.now()));
  conn.onNotification(() => undefined);
  conn.listen();
  const rootUri = pathToFileURL(root).href;
  await conn.sendRequest('initialize', {
    processId: process.pid,
    rootUri,
    workspaceFolders: [{ uri: rootUri, name: 'bench' }],
    capabilities: CLIENT_CAPABILITIES,
    ...(initializationOptions !== undefined ? { initializationOptions } : {}),
  });
  conn.sendNotification('initialized', {});
  return {
    conn,
    pid: child.pid,
    uri: (rel) => pathToFileURL(`${root}/${rel}`).href,
    async stop() {
      try {
        await Promise.race([conn.sendRequest('shutdown'), new Promise((r) => setTimeout(r, 2000))]);
        conn.sendNotification('exit');
      } catch {
        /* already gone */
      }
      conn.dispose();
      const gone = new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', r)));
      const t = setTimeout(() => {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, 2000);
      await gone;
      clearTimeout(t);
      groups.delete(child.pid);
    },
  };
}
