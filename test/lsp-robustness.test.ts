import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, rpcError, startServer, type TestServer, type WsClient } from './helpers/server.js';
import { until } from './helpers/until.js';
import { liveGroupMembers } from '../src/services/process-tree.js';

const HANGING = fileURLToPath(new URL('./helpers/hanging-lsp.mjs', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A live (non-zombie) process is left in the group (tsserver runs in its server's group). */
function groupAlive(pgid: number): boolean {
  return liveGroupMembers(pgid).length > 0;
}

const statusOf = async (c: WsClient, id: string) => ((await c.call('lsp.status', {})).servers as any[]).find((x) => x.languageId === id);

describe('language servers: crash, hang, missing binary, idle, shutdown, flood', () => {
  let s: TestServer;
  let a: WsClient;
  let b: WsClient;

  beforeAll(async () => {
    s = await startServer({
      lsp: {
        requestTimeoutMs: 4000,
        maxInflightPerClient: 2,
        languages: [
          { id: 'hang', extensions: ['.hang'], command: [process.execPath, HANGING], package: 'hang-ls (test fixture)' },
          { id: 'nolang', extensions: ['.nol'], command: ['/nonexistent/bin/nolang-ls', '--stdio'], package: 'nolang-ls (npm)' },
        ],
      },
    });
    writeFileSync(join(s.root, 'a.ts'), 'const x = 1;\nconsole.\n');
    writeFileSync(join(s.root, 'h.hang'), 'anything\n');
    writeFileSync(join(s.root, 'm.nol'), 'x\n');
    a = await connect(s);
    b = await connect(s);
    // Warm the typescript server (its first answer may take seconds on a loaded machine).
    await until(async () => (await a.call('lsp.completion', { path: 'a.ts', position: { line: 1, character: 8 } }).then((r) => r.items.length > 0, () => false)), 'typescript warm', 45_000);
  }, 60_000);

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await s?.close();
  }, 30_000);

  it('killing the server mid-session leads to a restart and working completions', async () => {
    const first = await a.call('lsp.completion', { path: 'a.ts', position: { line: 1, character: 8 } });
    expect(first.items.map((i: any) => i.label)).toContain('log');
    const before = await statusOf(a, 'typescript');
    process.kill(before.pid, 'SIGKILL');
    const after = await until(async () => {
      const st = await statusOf(a, 'typescript');
      return st.state === 'ready' && st.pid !== before.pid && st.restarts >= 1 ? st : undefined;
    }, 'typescript server restarted', 45_000);
    await until(() => !groupAlive(before.pid), 'the crashed server group gone (its tsserver went with it)', 10_000);
    // The restarted tsserver loads the project again: its first answer may take a while.
    const again = await until(() => a.call('lsp.completion', { path: 'a.ts', position: { line: 1, character: 8 } }).catch(() => undefined), 'completions after the restart', 45_000);
    expect(again.items.map((i: any) => i.label)).toContain('log');
    expect(after.pid).toBeGreaterThan(0);
  }, 90_000);

  it('a server that hangs times out with a clear error, and the bound frees', async () => {
    const err = await rpcError(a.call('lsp.hover', { path: 'h.hang', position: { line: 0, character: 0 } }));
    expect(err.data.code).toBe('TIMEOUT');
    expect(err.message).toMatch(/hang language server did not answer textDocument\/hover within 4000 ms/);
  }, 30_000);

  it('a flood from one client is bounded (LIMIT_EXCEEDED) and does not starve another', async () => {
    const flood = [0, 1, 2, 3].map(() => a.call('lsp.hover', { path: 'h.hang', position: { line: 0, character: 0 } }).then(() => 'ok', (e) => e.data?.code));
    const other = await b.call('lsp.completion', { path: 'a.ts', position: { line: 1, character: 8 } });
    expect(other.items.map((i: any) => i.label)).toContain('log');
    const codes = await Promise.all(flood);
    expect(codes.filter((c) => c === 'LIMIT_EXCEEDED').length).toBe(2);
    expect(codes.filter((c) => c === 'TIMEOUT').length).toBe(2);
    const more = [0, 1, 2].map(() => a.call('lsp.hover', { path: 'h.hang', position: { line: 0, character: 0 } }));
    const limited = await rpcError(Promise.all(more));
    expect(limited.data).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'maxInflightPerClient', max: 2 });
    await Promise.allSettled(more); // the two admitted ones time out and free the bound
  }, 30_000);

  it('a missing binary gives LSP_SERVER_UNAVAILABLE naming the language and the package', async () => {
    const err = await rpcError(a.call('lsp.completion', { path: 'm.nol', position: { line: 0, character: 0 } }));
    expect(err.data.code).toBe('LSP_SERVER_UNAVAILABLE');
    expect(err.message).toContain('nolang');
    expect(err.message).toContain('nolang-ls (npm)');
    expect(err.data).toMatchObject({ language: 'nolang', package: 'nolang-ls (npm)' });
  });

  it('shutdown leaves no server process', async () => {
    const st = ((await a.call('lsp.status', {})).servers as any[]).filter((x) => x.pid);
    expect(st.length).toBeGreaterThanOrEqual(2); // typescript and hang
    await a.close();
    await b.close();
    await s.close();
    // close() resolved: every server and everything it started is gone already (no polling)
    for (const x of st) {
      expect(alive(x.pid)).toBe(false);
      expect(groupAlive(x.pid)).toBe(false);
    }
  }, 30_000);
});

describe('idle servers', () => {
  it('stop after idleTimeoutMs and start again on the next request', async () => {
    const s = await startServer({ lsp: { idleTimeoutMs: 1500 } });
    const c = await connect(s);
    try {
      writeFileSync(join(s.root, 'a.ts'), 'const x = 1;\nconsole.\n');
      await c.call('lsp.completion', { path: 'a.ts', position: { line: 1, character: 8 } });
      const pid = (await statusOf(c, 'typescript')).pid;
      expect(pid).toBeGreaterThan(0);
      await until(async () => (await statusOf(c, 'typescript')).state === 'stopped', 'idle stop', 30_000);
      await until(() => !groupAlive(pid), 'idle server process gone', 10_000);
      const r = await c.call('lsp.completion', { path: 'a.ts', position: { line: 1, character: 8 } });
      expect(r.items.map((i: any) => i.label)).toContain('log');
    } finally {
      await c.close();
      await s.close();
    }
  }, 90_000);
});
