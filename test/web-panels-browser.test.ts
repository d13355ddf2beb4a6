import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { hasChromium, launchBrowser } from './helpers/browser.js';
import { startServer, type TestServer } from './helpers/server.js';

/**
 * The panels in a real browser, in the real shell (web/ built here into a temporary folder), for
 * what only a browser shows: keys reaching the workspace through a focused xterm, the terminal
 * panel after a server restart, diagnostics and completion in CodeMirror. Skipped without
 * Debian's chromium. The full user journey is test/web-e2e.test.ts.
 */
// Page functions run in the browser; the Node typecheck has no DOM lib.
declare const window: any;
declare const document: any;

describe.skipIf(!hasChromium())('web panels in the browser', () => {
  let webDir: string;
  let root: string;
  let s: TestServer;
  let browser: Browser;
  const token = 'panels-token-' + Math.random().toString(36).slice(2);

  const shell = process.env.SHELL;
  beforeAll(async () => {
    // The panel opens terminals with the server's $SHELL; a plain sh keeps the machine's rc files out.
    process.env.SHELL = '/bin/sh';
    webDir = mkdtempSync(join(tmpdir(), 'icpy-web-'));
    execFileSync(process.execPath, ['scripts/build-web.mjs', '--out', webDir], { stdio: 'ignore' });
    root = mkdtempSync(join(tmpdir(), 'icpy-panels-'));
    writeFileSync(join(root, 'hello.py'), 'import sys\nprint("hi from py")\nprint("to stderr", file=sys.stderr)\n');
    writeFileSync(join(root, 'bad.ts'), 'const n: number = "nope";\n');
    s = await startServer({ root, token }, { webDir });
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    process.env.SHELL = shell;
    await browser?.close();
    await s?.close();
    rmSync(root, { recursive: true, force: true });
    rmSync(webDir, { recursive: true, force: true });
  });

  async function open(): Promise<Page> {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    await page.goto(`${s.url}/?token=${token}`);
    await page.waitForFunction(() => (window as any).icpy?.ctx?.rpc.state === 'open', null, { timeout: 15_000 });
    return page;
  }
  const termText = (page: Page, text: string, timeout = 15_000) =>
    page.waitForFunction((t) => [...document.querySelectorAll('.icpy-term:not([hidden]) .xterm-rows')].some((x) => x.textContent?.includes(t)), text, { timeout });

  it('F5 with the terminal focused runs the current file; stdout and stderr stream into the Run panel', async () => {
    const page = await open();
    await page.evaluate(() => (window as any).icpy.ctx.openFile('hello.py'));
    await page.evaluate(() => (window as any).icpy.ctx.showPanel('terminal'));
    await page.waitForSelector('.icpy-term:not([hidden]) .xterm-rows', { timeout: 15_000 });
    await page.click('.icpy-term:not([hidden])');
    await page.keyboard.type('echo ready-$((6*7))\r');
    await termText(page, 'ready-42');
    await page.keyboard.press('F5'); // xterm has focus: the key must still reach the workspace
    await page.waitForFunction(() => /exit code 0/.test(document.querySelector('[data-testid=run-status]')?.textContent ?? ''), null, { timeout: 20_000 });
    expect(await page.textContent('[data-testid=run-output] .icpy-run-stdout')).toContain('hi from py');
    expect(await page.textContent('[data-testid=run-output] .icpy-run-stderr')).toContain('to stderr');
    // F5 went to the workspace, not to the shell as an escape sequence.
    expect(await page.evaluate(() => document.querySelector('.icpy-term:not([hidden]) .xterm-rows')?.textContent ?? '')).not.toContain('[15~');
    await page.context().close();
  }, 60_000);

  it('diagnostics show on open and clear when the error is fixed; Ctrl-Space completes from the language server', async () => {
    const page = await open();
    await page.evaluate(() => (window as any).icpy.ctx.openFile('bad.ts'));
    await page.waitForSelector('.cm-lint-marker-error', { timeout: 45_000 });
    await page.evaluate(() => {
      const v = (window as any).icpy.ctx.view;
      const i = v.state.doc.toString().indexOf('"nope"');
      v.dispatch({ changes: { from: i, to: i + 6, insert: '42' } });
    });
    await page.waitForFunction(() => !document.querySelector('.cm-lint-marker-error'), null, { timeout: 30_000 });
    await page.evaluate(() => {
      const v = (window as any).icpy.ctx.view;
      const end = v.state.doc.length;
      v.dispatch({ changes: { from: end, insert: 'console.' }, selection: { anchor: end + 8 } });
      v.focus();
    });
    await page.keyboard.press('Control+Space');
    await page.waitForSelector('.cm-tooltip-autocomplete', { timeout: 20_000 });
    const labels = await page.$$eval('.cm-tooltip-autocomplete .cm-completionLabel', (els) => els.map((e) => e.textContent));
    expect(labels).toContain('log');
    await page.context().close();
  }, 90_000);

  it('after a server restart the page reconnects and the terminal panel opens a working terminal', async () => {
    const page = await open();
    await page.evaluate(() => (window as any).icpy.ctx.showPanel('terminal'));
    await page.waitForSelector('.icpy-term:not([hidden]) .xterm-rows', { timeout: 15_000 });
    const port = Number(new URL(s.url).port);
    await s.close();
    await page.waitForFunction(() => (window as any).icpy.ctx.rpc.state !== 'open', null, { timeout: 10_000 });
    s = await startServer({ root, token, port }, { webDir, keepRoot: true });
    await page.waitForFunction(() => (window as any).icpy.ctx.rpc.state === 'open', null, { timeout: 20_000 });
    for (let i = 0; i < 100; i++) {
      if ((await s.call('terminal.list', {})).terminals.some((t: any) => t.attached)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await page.click('.icpy-term:not([hidden])');
    await page.keyboard.type('echo again-$((6*7))\r');
    await termText(page, 'again-42', 20_000);
    await page.context().close();
  }, 90_000);
});
