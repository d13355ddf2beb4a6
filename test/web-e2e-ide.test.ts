import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Dialog, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { icpy } from './helpers/cli.js';
import { hasChromium, launchBrowser, ready, editorText, waitEditorText, REPO_ROOT, shot } from './helpers/browser.js';
import { startServer, type TestServer } from './helpers/server.js';
import { until } from './helpers/until.js';

/**
 * Issue 14's IDE features that test/web-e2e.test.ts's proof steps do not walk, each in the real
 * shell in Debian's Chromium against a real server: the explorer's create / rename / delete /
 * drag-to-move reaching disk and a second context, Ctrl-P quick open and Ctrl-Shift-F search,
 * Ctrl-` for the terminal, the history panel (diff, restore), an agent's CLI edit in the activity
 * panel, and the connection state across a server restart on the same port. One story, one
 * browser; the web client is built from web/ into a temporary folder (so this checkout's web/ is
 * what runs, never a stale dist/web). Screenshots: test-artifacts/web/ide-NN-step.png.
 */
const STEP_TIMEOUT = 45_000;
const run = hasChromium() ? describe : describe.skip;

/** The page's `window` (web/src/context.ts's WebContext at `window.icpy.ctx`); no DOM lib in the Node typecheck. */
declare const window: { icpy: { ctx: any } };
declare const document: any;

async function login(page: Page, s: TestServer): Promise<void> {
  await page.goto(`${s.url}/?token=${encodeURIComponent(s.token)}`);
  await ready(page);
}


function row(page: Page, path: string) {
  return page.locator(`#side .row[data-path="${path}"]`);
}

/** Runs `action`, answering the one prompt/confirm it raises with `answer` (accept; a string fills a prompt). */
async function withDialog(page: Page, answer: string | true, action: () => Promise<void>): Promise<Dialog> {
  const seen = new Promise<Dialog>((resolve) => {
    page.once('dialog', (d) => {
      resolve(d);
      void (answer === true ? d.accept() : d.accept(answer));
    });
  });
  await action();
  return seen;
}



async function waitFile(page: Page, path: string): Promise<void> {
  await page.waitForFunction(
    (p) => window.icpy.ctx.file === p && document.querySelector('#editor')?.dataset.synced === 'true',
    path,
    { timeout: 15_000 },
  );
}

async function openInEditor(page: Page, path: string): Promise<void> {
  await page.evaluate((p) => window.icpy.ctx.openFile(p), path);
  await waitFile(page, path);
}

/** The editor's cursor as 1-based line and 0-based column. */
function cursor(page: Page): Promise<{ line: number; col: number }> {
  return page.evaluate(() => {
    const st = window.icpy.ctx.view.state;
    const head = st.selection.main.head;
    const line = st.doc.lineAt(head);
    return { line: line.number, col: head - line.from };
  });
}

run('web workspace IDE features in Chromium (issue 14)', () => {
  let s: TestServer;
  let root: string;
  let webDir: string;
  let home: string;
  let browser: Browser;
  let a: BrowserContext;
  let b: BrowserContext;
  let pageA: Page;
  let pageB: Page;
  const token = 'ide-token-' + Math.random().toString(36).slice(2);
  const saved = { HOME: process.env.HOME, SHELL: process.env.SHELL };
  const disk = (p: string) => readFileSync(join(root, p), 'utf8');
  const there = (p: string) => existsSync(join(root, p));

  beforeAll(async () => {
    webDir = mkdtempSync(join(tmpdir(), 'icpy-ide-web-'));
    execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build-web.mjs'), '--out', webDir], { stdio: 'ignore', cwd: REPO_ROOT });
    root = mkdtempSync(join(tmpdir(), 'icpy-ide-'));
    mkdirSync(join(root, 'quick', 'deep'), { recursive: true });
    writeFileSync(join(root, 'quick', 'deep', 'needle-finder.ts'), 'export const needle = 1;\n');
    writeFileSync(join(root, 'search-me.md'), '# title\n\nline three\nline four\n  here is the zebra-marker-77 line\nlast\n');
    writeFileSync(join(root, 'hist.txt'), 'one\n');
    writeFileSync(join(root, 'start.txt'), 'a file to start from\n');
    // Terminals inherit the server's environment: a plain sh and an empty HOME keep the
    // machine's rc files (pyenv init…) from delaying or hiding the prompt.
    home = mkdtempSync(join(tmpdir(), 'icpy-ide-home-'));
    process.env.HOME = home;
    process.env.SHELL = '/bin/sh';
    s = await startServer({ root, token }, { webDir });
    browser = await launchBrowser();
    a = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    b = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    pageA = await a.newPage();
    pageB = await b.newPage();
    await login(pageA, s);
    await login(pageB, s);
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await s?.close();
    process.env.HOME = saved.HOME;
    if (saved.SHELL === undefined) delete process.env.SHELL;
    else process.env.SHELL = saved.SHELL;
    for (const d of [root, webDir, home]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('01 explorer: create a file and a folder, rename, delete (confirmed), drag onto a folder — on disk and live in a second context', async () => {
    await row(pageA, 'hist.txt').waitFor({ timeout: 15_000 });
    await row(pageB, 'hist.txt').waitFor({ timeout: 15_000 });

    // New file (in the root: nothing selected yet) — made on disk and opened.
    const p1 = await withDialog(pageA, 'made.txt', () => pageA.locator('#side button[title="New file"]').click());
    expect(p1.type()).toBe('prompt');
    await until(() => there('made.txt'), 'made.txt on disk', 15_000);
    await waitFile(pageA, 'made.txt');
    await row(pageB, 'made.txt').waitFor({ timeout: 15_000 });

    // New folder.
    await withDialog(pageA, 'box', () => pageA.locator('#side button[title="New folder"]').click());
    await until(() => there('box') && statSync(join(root, 'box')).isDirectory(), 'box/ on disk', 15_000);
    await row(pageB, 'box').waitFor({ timeout: 15_000 });
    await shot(pageA, 'ide-01-created');

    // Rename the open file: the editor follows it.
    await row(pageA, 'made.txt').hover();
    await withDialog(pageA, 'renamed.txt', () => row(pageA, 'made.txt').locator('button[title="Rename"]').click());
    await until(() => there('renamed.txt') && !there('made.txt'), 'made.txt renamed on disk', 15_000);
    await row(pageB, 'renamed.txt').waitFor({ timeout: 15_000 });
    await row(pageB, 'made.txt').waitFor({ state: 'detached', timeout: 15_000 });
    await waitFile(pageA, 'renamed.txt');

    // Delete asks first.
    await s.call('files.write', { path: 'doomed.txt', content: 'bye\n' });
    await row(pageA, 'doomed.txt').waitFor({ timeout: 15_000 });
    await row(pageB, 'doomed.txt').waitFor({ timeout: 15_000 });
    await row(pageA, 'doomed.txt').hover();
    const c = await withDialog(pageA, true, () => row(pageA, 'doomed.txt').locator('button[title="Delete"]').click());
    expect(c.type()).toBe('confirm');
    expect(c.message()).toContain('doomed.txt');
    await until(() => !there('doomed.txt'), 'doomed.txt deleted on disk', 15_000);
    await row(pageB, 'doomed.txt').waitFor({ state: 'detached', timeout: 15_000 });
    await row(pageA, 'doomed.txt').waitFor({ state: 'detached', timeout: 15_000 });

    // Drag onto a folder moves it; B has the folder open, so it sees the file arrive there.
    await row(pageB, 'box').click();
    await row(pageA, 'renamed.txt').dragTo(row(pageA, 'box'));
    await until(() => there('box/renamed.txt') && !there('renamed.txt'), 'renamed.txt moved into box/ on disk', 15_000);
    await row(pageB, 'box/renamed.txt').waitFor({ timeout: 15_000 });
    await row(pageB, 'renamed.txt').waitFor({ state: 'detached', timeout: 15_000 });
    await waitFile(pageA, 'box/renamed.txt');
    await shot(pageA, 'ide-01-explorer-a');
    // A folder holding the open file moves too, and the editor follows the file.
    await row(pageA, 'box').dragTo(row(pageA, 'quick'));
    await until(() => there('quick/box/renamed.txt') && !there('box'), 'box/ moved into quick/ on disk', 15_000);
    await row(pageB, 'box').waitFor({ state: 'detached', timeout: 15_000 });
    await waitFile(pageA, 'quick/box/renamed.txt');
    await shot(pageB, 'ide-01-explorer-b');
  }, STEP_TIMEOUT);

  it('02 Ctrl-P finds a file by part of its name and opens it; Ctrl-Shift-F finds a line and the hit puts the editor at it', async () => {
    await pageA.bringToFront();
    // From an open editor (its own keymap must not take the keys), whatever step 01 left open.
    await openInEditor(pageA, 'start.txt');
    await pageA.locator('.cm-content').first().click();
    await pageA.keyboard.press('Control+p');
    const input = pageA.locator('#quick-open-input');
    await input.waitFor({ state: 'visible', timeout: 5000 });
    expect(await input.evaluate((el) => el === document.activeElement)).toBe(true);
    await pageA.keyboard.type('needle-fi');
    await pageA.waitForFunction(() => document.querySelector('#quick-open li.active')?.dataset.path === 'quick/deep/needle-finder.ts', undefined, { timeout: 15_000 });
    await shot(pageA, 'ide-02-quick-open');
    await pageA.keyboard.press('Enter');
    await waitFile(pageA, 'quick/deep/needle-finder.ts');
    await waitEditorText(pageA, (t) => t === 'export const needle = 1;\n', 'needle-finder.ts in the editor');
    expect(await pageA.locator('#quick-open').isVisible()).toBe(false);

    await pageA.keyboard.press('Control+Shift+F');
    const q = pageA.locator('#search-query');
    await q.waitFor({ state: 'visible', timeout: 5000 });
    expect(await q.evaluate((el) => el === document.activeElement)).toBe(true);
    await pageA.keyboard.type('zebra-marker-77');
    await pageA.keyboard.press('Enter');
    const hit = pageA.locator('#search-results li[data-path="search-me.md"]');
    await hit.waitFor({ timeout: 15_000 });
    await shot(pageA, 'ide-02-search');
    await hit.click();
    await waitFile(pageA, 'search-me.md');
    // Line 5 ("  here is the zebra-marker-77 line"), at the match's column.
    await until(async () => {
      const c = await cursor(pageA);
      return c.line === 5 && c.col === 14 ? c : undefined;
    }, 'the cursor at the search hit (line 5, column 14)', 15_000);
    await shot(pageA, 'ide-02-search-opened');
    await pageA.locator('#side .tab[data-panel="explorer"]').click();
  }, STEP_TIMEOUT);

  it('03 Ctrl-` shows and hides the terminal panel, from the editor and from a focused terminal', async () => {
    const panel = pageA.getByTestId('terminal-panel');
    await openInEditor(pageA, 'start.txt');
    await pageA.locator('.cm-content').first().click();
    await pageA.keyboard.press('Control+Backquote');
    await panel.waitFor({ state: 'visible', timeout: 15_000 });
    await pageA.locator('.icpy-term:not([hidden]) .xterm').first().waitFor({ timeout: 15_000 });
    await shot(pageA, 'ide-03-terminal-shown');
    await pageA.keyboard.press('Control+Backquote');
    await panel.waitFor({ state: 'hidden', timeout: 5000 });
    await pageA.keyboard.press('Control+Backquote');
    await panel.waitFor({ state: 'visible', timeout: 5000 });
    // From inside xterm (which takes keys for the shell), Ctrl-` still reaches the workspace.
    await pageA.locator('.icpy-term:not([hidden]) .xterm-helper-textarea').first().focus();
    await pageA.keyboard.press('Control+Backquote');
    await panel.waitFor({ state: 'hidden', timeout: 5000 });
    await shot(pageA, 'ide-03-terminal-hidden');
  }, STEP_TIMEOUT);

  it('04 history: after two saves the panel lists versions; diff against the first shows the change; restore brings the old text back', async () => {
    await openInEditor(pageA, 'hist.txt');
    await waitEditorText(pageA, (t) => t === 'one\n', 'hist.txt in the editor');
    for (const word of ['two', 'three']) {
      await pageA.locator('.cm-content').first().click();
      await pageA.keyboard.press('Control+End');
      await pageA.keyboard.type(`${word}\n`);
      await pageA.keyboard.press('Control+s');
      await until(() => disk('hist.txt').endsWith(`${word}\n`), `"${word}" saved to disk`, 15_000);
    }
    expect(disk('hist.txt')).toBe('one\ntwo\nthree\n');
    const { versions } = await s.call('docs.history', { path: 'hist.txt' });
    expect(versions.length).toBeGreaterThanOrEqual(2);
    const first = Math.min(...versions.map((v: any) => v.version));
    const old = (await s.call('docs.version', { path: 'hist.txt', version: first })).content as string;
    expect(['one\n', 'one\ntwo\n']).toContain(old);

    await pageA.evaluate(() => window.icpy.ctx.showPanel('history'));
    const list = pageA.getByTestId('history-list');
    await until(async () => ((await list.locator('.icpy-history-row').count()) >= versions.length ? true : undefined), 'the versions listed', 15_000);
    const firstRow = list.locator(`.icpy-history-row[data-version="${first}"]`);
    await firstRow.getByTestId('history-diff').click();
    const view = pageA.getByTestId('history-diff-view');
    await view.locator('.icpy-diff-add', { hasText: 'three' }).first().waitFor({ timeout: 15_000 });
    await shot(pageA, 'ide-04-history-diff');

    const c = await withDialog(pageA, true, () => firstRow.getByTestId('history-restore').click());
    expect(c.type()).toBe('confirm');
    await waitEditorText(pageA, (t) => t === old, 'the restored text in the editor');
    await until(() => disk('hist.txt') === old, 'the restored text on disk', 15_000);
    // Restoring is a new version, and the list shows it.
    await list.locator('.icpy-history-row', { hasText: `restored from v${first}` }).first().waitFor({ timeout: 15_000 });
    await shot(pageA, 'ide-04-history-restored');
  }, STEP_TIMEOUT);

  it("05 an agent's CLI edit appears in the activity panel with the agent's name and an agent badge", async () => {
    await pageA.evaluate(() => window.icpy.ctx.showPanel('activity'));
    const events = pageA.getByTestId('activity-events');
    await events.waitFor({ timeout: 15_000 });
    const env = { PATH: process.env.PATH, HOME: home, ICPY_URL: s.url, ICPY_TOKEN: s.token };
    const r = await icpy(['edit', 'search-me.md', '--replace', 'last', '--with', 'robo was here', '--agent', 'robo-7'], env, root);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const agentRow = events.locator('.icpy-activity-row[data-kind="agent"]', { hasText: 'robo-7' }).first();
    await agentRow.waitFor({ timeout: 15_000 });
    expect(await agentRow.locator('.icpy-badge').textContent()).toBe('agent');
    expect(await agentRow.locator('.icpy-activity-who').textContent()).toBe('robo-7');
    await shot(pageA, 'ide-05-activity');
  }, STEP_TIMEOUT);

  it('06 a server restart on the same port: the status bar shows reconnecting, then connected, and changes made meanwhile show up', async () => {
    const conn = pageA.locator('#conn');
    await until(async () => ((await conn.innerText()) === 'connected' ? true : undefined), 'connected before the restart', 15_000);
    const port = Number(new URL(s.url).port);
    await s.app.close();
    await pageA.waitForFunction(() => ['reconnecting', 'offline'].includes(document.querySelector('#conn')?.dataset.state), undefined, { timeout: 15_000 });
    expect(await conn.innerText()).toMatch(/reconnecting|offline/);
    await shot(pageA, 'ide-06-reconnecting');
    // Made while no server runs: only a resync after the reconnect can show it.
    writeFileSync(join(root, 'while-down.txt'), 'made while down\n');
    s = await startServer({ root, token, port }, { webDir });
    await pageA.waitForFunction(() => document.querySelector('#conn')?.dataset.state === 'open', undefined, { timeout: 30_000 });
    expect(await conn.innerText()).toBe('connected');
    await row(pageA, 'while-down.txt').waitFor({ timeout: 15_000 });
    // And events flow again on the new server.
    await s.call('files.write', { path: 'after-restart.txt', content: 'hi\n' });
    await row(pageA, 'after-restart.txt').waitFor({ timeout: 15_000 });
    await row(pageB, 'after-restart.txt').waitFor({ timeout: 15_000 });
    await shot(pageA, 'ide-06-reconnected');
  }, 60_000);
});
