import { existsSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { until } from './until.js';

/**
 * Debian's Chromium (`apt-get install chromium`, as `.ci/run` does). Playwright's own browser
 * download is unreachable here, so playwright-core drives the system one.
 */
export const CHROMIUM = process.env.ICPY_CHROMIUM ?? '/usr/bin/chromium';

/** Flags that work on this kind of machine (Debian chromium, headless, as root): no sandbox as root, no network chatter. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Background tabs of other contexts must keep rendering: the latency proofs measure them.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

/**
 * Browser tests skip on a machine without Chromium, except where it is required
 * (`ICPY_REQUIRE_CHROMIUM=1`, set by .ci/run, which installs it): there a missing browser fails.
 */
export function hasChromium(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.ICPY_REQUIRE_CHROMIUM === '1') throw new Error(`Chromium is required (ICPY_REQUIRE_CHROMIUM=1) but ${CHROMIUM} is missing: apt-get install -y chromium`);
  return false;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Screenshots of each end-to-end step (gitignored; CI keeps the folder as an artifact). */
export const ARTIFACTS = process.env.ICPY_WEB_ARTIFACTS ?? join(REPO_ROOT, 'test-artifacts', 'web');

/** Save `page` as `test-artifacts/web/NN-step.png`; a failed screenshot never fails the proof. */
export async function shot(page: Page, name: string): Promise<string | undefined> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = join(ARTIFACTS, `${name}.png`);
  try {
    await page.screenshot({ path: file, fullPage: false, timeout: 5000 });
    return file;
  } catch {
    return undefined;
  }
}

/** A tiny HTTP server that serves one HTML page on every path — the "foreign origin" of the cross-site proofs. */
export interface Hit {
  method: string;
  url: string;
  /** Whether the request carried the icpy session cookie (cookies are per host, not per port). */
  session: boolean;
}

export async function foreignSite(html: string, host = '127.0.0.1'): Promise<{ url: string; hits: Hit[]; close(): Promise<void> }> {
  const hits: Hit[] = [];
  const server: Server = createServer((req, res) => {
    hits.push({ method: req.method ?? '', url: req.url ?? '', session: /(?:^|;\s*)icpy_session(?:_\d+)?=/.test(req.headers.cookie ?? '') });
    req.resume();
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', connection: 'close' });
    res.end(html);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://${host}:${port}`,
    hits,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

// Page functions run in the browser; the Node typecheck has no DOM lib. `window.icpy.ctx` is the
// page's WebContext (web/src/context.ts).
declare const window: { icpy: { ctx: any } };

/** The page's JSON-RPC socket is open (the shell has booted and authenticated). */
export async function ready(page: Page): Promise<void> {
  await page.waitForFunction(() => window.icpy?.ctx?.rpc?.state === 'open', undefined, { timeout: 15_000 });
}

/** The text of the page's editor, or undefined when no file is open. */
export function editorText(page: Page): Promise<string | undefined> {
  return page.evaluate(() => window.icpy.ctx.view?.state.doc.toString());
}

export async function waitEditorText(page: Page, pred: (t: string) => boolean, what: string): Promise<string> {
  return until(async () => {
    const t = await editorText(page);
    return t !== undefined && pred(t) ? t : undefined;
  }, what, 15_000);
}
