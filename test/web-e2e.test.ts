import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { icpy } from './helpers/cli.js';
import { foreignSite, hasChromium, launchBrowser, ready, editorText, waitEditorText, shot } from './helpers/browser.js';
import { startServer, type TestServer } from './helpers/server.js';
import { until } from './helpers/until.js';

/**
 * Issue 14's proof, step by step, in a real Chromium (Debian's, driven by playwright-core) against
 * a real server on port 0: one story per file — the steps share one workspace and one browser and
 * build on each other (the file typed in step 4 is the one the agent edits in step 6). Each step
 * leaves a screenshot in test-artifacts/web/NN-step.png (README "Development").
 *
 * Selectors: the page exposes `window.icpy.ctx` (the WebContext, web/src/context.ts) — the tests
 * read the current file and editor text through it, and click the DOM for what a user does.
 */
const STEP_TIMEOUT = 30_000;
const run = hasChromium() ? describe : describe.skip;

/**
 * The page's `window` as these tests see it, declared here rather than with the DOM lib (which
 * would change the Node typings of every test): `window.icpy.ctx` is web/src/context.ts's
 * WebContext.
 */
declare const window: { icpy: { ctx: any } };





async function openInEditor(page: Page, path: string): Promise<void> {
  await page.evaluate((p) => window.icpy.ctx.openFile(p), path);
  await page.waitForFunction((p) => window.icpy.ctx.file === p && window.icpy.ctx.view !== undefined, path, { timeout: 15_000 });
}

run('web workspace end to end (issue 14)', () => {
  let s: TestServer;
  let browser: Browser;
  let a: BrowserContext;
  let pageA: Page;
  let b: BrowserContext | undefined;
  let pageB: Page | undefined;
  let home: string | undefined;
  let savedHome: string | undefined;
  const disk = (p: string) => readFileSync(join(s.root, p), 'utf8');

  beforeAll(async () => {
    s = await startServer();
    writeFileSync(join(s.root, 'notes.txt'), 'first line\n');
    writeFileSync(join(s.root, 'hello.py'), 'import time\nfor i in range(3):\n    print("tick", i, flush=True)\n    time.sleep(0.3)\nprint("done")\n');
    writeFileSync(join(s.root, 'bad.ts'), 'export const n: number = 1;\n');
    writeFileSync(join(s.root, 'victim.txt'), 'untouched\n');
    // Interactive shells read $HOME/.bashrc; the machine's own (pyenv init…) can keep bash from
    // ever printing a prompt. The workspace's terminals inherit the server's environment.
    home = mkdtempSync(join(tmpdir(), 'icpy-e2e-home-'));
    savedHome = process.env.HOME;
    process.env.HOME = home;
    browser = await launchBrowser();
    a = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    pageA = await a.newPage();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await s?.close();
    if (savedHome !== undefined) process.env.HOME = savedHome;
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('01 opening /?token=T logs in with a cookie, removes the token from the address bar, and a reload still works', async () => {
    await pageA.goto(`${s.url}/?token=${encodeURIComponent(s.token)}`);
    await ready(pageA);
    expect(pageA.url()).not.toContain('token');
    expect(pageA.url()).not.toContain(s.token);
    const cookies = await a.cookies(s.url);
    const session = cookies.find((c) => c.name === `icpy_session_${new URL(s.url).port}`);
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(session!.value).not.toContain(s.token);
    await pageA.reload();
    await ready(pageA);
    expect(pageA.url()).not.toContain('token');
    // The socket is the cookie's: it calls as the owner.
    expect(await pageA.evaluate(() => window.icpy.ctx.rpc.call('files.list', { path: '' }).then((r: any) => Array.isArray(r.entries ?? r)))).toBe(true);
    await shot(pageA, '01-login');
  }, STEP_TIMEOUT);

  it('02 the explorer shows the workspace tree, and a file created elsewhere appears live', async () => {
    for (const name of ['notes.txt', 'hello.py', 'bad.ts']) await pageA.getByText(name, { exact: true }).first().waitFor({ timeout: 15_000 });
    await s.call('files.write', { path: 'later.md', content: '# later\n' });
    await pageA.getByText('later.md', { exact: true }).first().waitFor({ timeout: 15_000 });
    await shot(pageA, '02-tree');
  }, STEP_TIMEOUT);

  it('03 clicking a file opens it in the editor', async () => {
    await pageA.getByText('notes.txt', { exact: true }).first().click();
    await pageA.waitForFunction(() => window.icpy.ctx.file === 'notes.txt', undefined, { timeout: 15_000 });
    await waitEditorText(pageA, (t) => t === 'first line\n', 'notes.txt in the editor');
    await pageA.locator('.cm-content').first().waitFor();
    await shot(pageA, '03-open');
  }, STEP_TIMEOUT);

  it('04 typing then Ctrl-S puts the text on disk', async () => {
    await pageA.locator('.cm-content').first().click();
    await pageA.keyboard.press('Control+End');
    await pageA.keyboard.type('typed in the browser');
    await waitEditorText(pageA, (t) => t.includes('typed in the browser'), 'the typed text in the editor');
    await pageA.keyboard.press('Control+s');
    await until(() => disk('notes.txt').includes('typed in the browser'), 'the typed text on disk', 15_000);
    await shot(pageA, '04-saved');
  }, STEP_TIMEOUT);

  it("05 a second browser context sees the first one's edit and cursor live", async () => {
    b = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    pageB = await b.newPage();
    await pageB.goto(`${s.url}/?token=${encodeURIComponent(s.token)}`);
    await ready(pageB);
    await openInEditor(pageB, 'notes.txt');
    await waitEditorText(pageB, (t) => t.includes('typed in the browser'), 'the first context’s text in the second');
    // A types more; B sees it without a save, and sees A's caret (y-codemirror.next remote cursor).
    await pageA.bringToFront();
    await pageA.locator('.cm-content').first().click();
    await pageA.keyboard.press('Control+End');
    await pageA.keyboard.type(' +live');
    await waitEditorText(pageB, (t) => t.includes(' +live'), 'the live edit in the second context');
    await pageB.locator('.cm-ySelectionCaret').first().waitFor({ state: 'attached', timeout: 15_000 });
    await shot(pageB, '05-second-context');
  }, STEP_TIMEOUT);

  it('06 an agent edit through the CLI appears in the open editor and the agent in the presence bar', async () => {
    const env = { PATH: process.env.PATH, HOME: home, ICPY_URL: s.url, ICPY_TOKEN: s.token };
    const r = await icpy(['edit', 'notes.txt', '--replace', 'first line', '--with', 'agent was here', '--agent', 'claude'], env, s.root);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    await waitEditorText(pageA, (t) => t.startsWith('agent was here\n'), 'the agent edit in the open editor');
    await pageA.locator('#presence').getByText('claude').first().waitFor({ timeout: 15_000 });
    await shot(pageA, '06-agent-edit');
  }, STEP_TIMEOUT);

  it('07 a terminal echoes a command and survives a reload with its scrollback', async () => {
    await pageA.locator('.cm-content').first().click();
    await pageA.keyboard.press('Control+Backquote');
    const term = pageA.locator('.xterm').first();
    await term.waitFor({ timeout: 15_000 });
    await pageA.locator('.xterm-helper-textarea').first().focus();
    await pageA.keyboard.type('echo e2e-$((40+2))\n');
    await pageA.locator('.xterm-rows').getByText('e2e-42').first().waitFor({ timeout: 15_000 });
    await shot(pageA, '07-terminal');
    await pageA.reload();
    await ready(pageA);
    // The terminal is icpy's, not the page's: after the reload the panel reattaches and replays it.
    if (!(await pageA.locator('.xterm').first().isVisible())) await pageA.keyboard.press('Control+Backquote');
    await pageA.locator('.xterm-rows').getByText('e2e-42').first().waitFor({ timeout: 15_000 });
    const terms = await s.call('terminal.list', {});
    expect((terms.terminals ?? terms).length).toBe(1);
    await shot(pageA, '07-terminal-after-reload');
  }, STEP_TIMEOUT);

  it('08 running a Python file streams its output', async () => {
    await openInEditor(pageA, 'hello.py');
    await pageA.evaluate(() => window.icpy.ctx.showPanel('run'));
    await pageA.getByTestId('run-button').click();
    // The first tick shows before the program has finished (it sleeps 0.9 s in all).
    const out = pageA.getByTestId('run-output');
    await out.getByText('tick 0').first().waitFor({ timeout: 15_000 });
    const early = (await out.innerText()).includes('done');
    await out.getByText('done').first().waitFor({ timeout: 15_000 });
    expect(early).toBe(false);
    await shot(pageA, '08-run');
  }, STEP_TIMEOUT);

  it('09 a type error in a .ts file shows a diagnostic in the editor', async () => {
    await openInEditor(pageA, 'bad.ts');
    await pageA.locator('.cm-content').first().click();
    await pageA.keyboard.press('Control+End');
    await pageA.keyboard.type('export const s: string = 42;\n');
    // typescript-language-server's first diagnostics take ~3 s after spawn.
    await pageA.locator('.cm-lintRange-error, .cm-lint-marker-error').first().waitFor({ state: 'attached', timeout: 25_000 });
    await shot(pageA, '09-diagnostic');
  }, 40_000);

  it('10 a foreign-origin page cannot use the cookie: cross-site fetch and WebSocket are refused', async () => {
    // Same site (127.0.0.1), other port: SameSite=Strict still SENDS the cookie, so only the
    // server's Origin check stands between this page and the workspace.
    const evil = await foreignSite('<!doctype html><title>evil</title><p>evil</p>');
    const evilByName = await foreignSite('<!doctype html><title>evil</title><p>evil</p>');
    try {
      for (const origin of [evil.url, evilByName.url.replace('127.0.0.1', 'localhost')]) {
        const page = await a.newPage();
        // The probe: the other tiny server, always addressed as 127.0.0.1 — the icpy server's host,
        // so it gets exactly the cookies a request from this page to icpy gets (cookies ignore ports).
        const probe = origin === evil.url ? evilByName : evil;
        await page.goto(origin);
        const result = await page.evaluate(
          async ({ target, probeUrl }) => {
            const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'files.write', params: { path: 'victim.txt', content: 'pwned' } });
            const out: Record<string, string> = {};
            await fetch(`${probeUrl}/probe`, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body }).catch(() => undefined);
            // A "simple" request: no preflight, the browser sends it with the cookie and hides the answer.
            for (const [name, url, type] of [
              ['rpc-text', `${target}/api/rpc`, 'text/plain'],
              ['rpc-form', `${target}/api/rpc/files.write`, 'application/x-www-form-urlencoded'],
            ] as const) {
              try {
                const r = await fetch(url, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': type }, body });
                out[name] = `sent:${r.type}`;
              } catch (e) {
                out[name] = `error:${String(e)}`;
              }
            }
            // A CORS request with JSON: needs a preflight the server must not grant.
            try {
              const r = await fetch(`${target}/api/rpc`, { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body });
              out['rpc-json'] = `status:${r.status}`;
            } catch (e) {
              out['rpc-json'] = `refused`;
            }
            out.ws = await new Promise<string>((resolve) => {
              const ws = new WebSocket(`${target.replace(/^http/, 'ws')}/api/ws`);
              const t = setTimeout(() => resolve('timeout'), 8000);
              ws.onopen = () => {
                ws.send(body);
                ws.onmessage = (m) => {
                  clearTimeout(t);
                  resolve(`open:${String(m.data).slice(0, 200)}`);
                  ws.close();
                };
              };
              ws.onclose = (ev) => {
                clearTimeout(t);
                resolve(`closed:${ev.code}`);
              };
            });
            return out;
          },
          { target: s.url, probeUrl: probe.url },
        );
        expect(result['rpc-json'], origin).toBe('refused');
        expect(result.ws, origin).toMatch(/^closed:/);
        // Server side: nothing changed, and no browser connection was ever made from that page.
        expect(disk('victim.txt'), origin).toBe('untouched\n');
        const probed = probe.hits.find((h) => h.url === '/probe');
        // Same site: the browser does send the cookie, so the refusal above is the server's Origin
        // check. Cross-site (localhost → 127.0.0.1): SameSite=Strict keeps the cookie home.
        expect(probed, origin).toMatchObject({ method: 'POST', session: origin === evil.url });
        await shot(page, origin === evil.url ? '10-cross-origin' : '10-cross-site');
        await page.close();
      }
      // Control: the app's own origin, same cookie, does write.
      const ok = await pageA.evaluate(
        (target) =>
          fetch(`${target}/api/rpc`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'files.write', params: { path: 'own.txt', content: 'mine' } }),
          }).then((r) => r.status),
        s.url,
      );
      expect(ok).toBe(200);
      expect(disk('own.txt')).toBe('mine');
    } finally {
      await evil.close();
      await evilByName.close();
    }
  }, 60_000);
});
