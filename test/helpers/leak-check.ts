import { afterAll } from 'vitest';

/**
 * Fails a test file that leaves a server, socket, child process or file watcher open.
 * (Suites must close what they open; a leak here is a bug, as in VS Code's leak checker.)
 */
const WATCHED = new Set(['TCPServerWrap', 'TCPSocketWrap', 'ProcessWrap', 'FSEventWrap', 'StatWatcher']);
const baseline = new Map<string, number>();
for (const r of process.getActiveResourcesInfo()) baseline.set(r, (baseline.get(r) ?? 0) + 1);

function leaked(): string[] {
  const now = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) if (WATCHED.has(r)) now.set(r, (now.get(r) ?? 0) + 1);
  return [...now].filter(([r, n]) => n > (baseline.get(r) ?? 0)).map(([r, n]) => `${r}×${n - (baseline.get(r) ?? 0)}`);
}

afterAll(async () => {
  // Give closing sockets a moment to finish their close handshake.
  for (let i = 0; i < 40 && leaked().length; i++) await new Promise((r) => setTimeout(r, 50));
  const left = leaked();
  if (left.length) throw new Error(`Leaked handles after this test file: ${left.join(', ')}`);
});
