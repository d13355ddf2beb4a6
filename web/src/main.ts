/**
 * Bootstrap of the built-in web workspace: the socket, the shell, explorer, search, presence,
 * the panels (panels/index.ts), then the file named in the URL hash (`#/path/to/file`).
 */
import type { WebContext } from './context.js';
import { byId, wsUrl } from './dom.js';
import { Explorer } from './explorer.js';
import { identity } from './identity.js';
import { registerPanels } from './panels/index.js';
import { PresenceBar } from './presence.js';
import { QuickOpen } from './quick-open.js';
import { IcpyRpc } from './rpc.js';
import { SearchPanel } from './search.js';
import { fileFromHash, makeResizable, Shell } from './shell.js';

declare global {
  interface Window { icpy: { ctx: WebContext } }
}

const me = identity();
const rpc = new IcpyRpc(wsUrl('/api/ws', me.name));
const shell = new Shell(rpc, me);
window.icpy = { ctx: shell };

rpc.onUnauthorized(() => {
  byId('app').hidden = true;
  byId('nosession').hidden = false;
});

shell.addPanel(new Explorer(shell));
shell.addPanel(new SearchPanel(shell));
const quick = new QuickOpen(shell);
shell.quickOpen = () => quick.open();
new PresenceBar(shell);
try {
  registerPanels(shell);
} catch (e) {
  console.error(e);
  shell.notify(`A panel failed to load: ${String(e)}`, 'error');
}
makeResizable();
shell.showPanel('explorer');
byId('app').classList.remove('booting');

const first = fileFromHash();
if (first) shell.openFile(first);
