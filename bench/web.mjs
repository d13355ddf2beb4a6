// The built-in web workspace (issue 14): bundle size, time to a usable editor, and keystroke →
// remote render between two browser contexts, in Debian's Chromium driven by playwright-core.
// Run `npm run build` first (the page is dist/web/, the server dist/).
//
// Processes: icpy (`icpy serve TMP --port 0`, lib/icpy-server.mjs) in its own process; Chromium
// (its own processes); this process drives the browser and runs the baseline's clients.
//
// Figures (one JSON line each):
//   bundle     gzip -9 bytes of dist/web/app.js and app.css (what a first visit downloads besides
//              the ~1 KB index.html); target < 1 MB
//   first_usable  navigation → usable editor with the file shown: `performance.now()` in the page
//              (0 = navigation start) at the first animation frame where the editor shows the
//              file's text, is editable and the socket is open. `cold`: a fresh browser context
//              each time (empty cache, cookie already set); `reload`: the same context reloaded.
//              Median and max of WEB_NAV_RUNS (7); target < 1.5 s
//   keystroke  A types one character (real key events through CDP); latency = B's editor DOM
//              mutation showing it (MutationObserver on B's .cm-content) − A's keydown, both
//              `performance.timeOrigin + now()` (one machine, one clock). Ping-pong: the next key
//              after B has it. WEB_KEYS (200) after 20 warm-up; p50/p99; target p99 < 50 ms
//   baseline   the same path without a browser: two y-websocket providers in Node on the same
//              icpy room, insert in A's Y.Text → B's observer, same count
//
//   node bench/web.mjs
//   WEB_KEYS=500 WEB_NAV_RUNS=15 node bench/web.mjs
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { forkChild, nextMessage, stopChild } from './lib/procs.mjs';
import { emit, median, nowMs, percentile, round, stealMeter } from './lib/stats.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const WEB = join(here, '..', 'dist', 'web');
const CHROMIUM = process.env.ICPY_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows',
];
const NAV_RUNS = Number(process.env.WEB_NAV_RUNS ?? 7);
const KEYS = Number(process.env.WEB_KEYS ?? 200);
const WARMUP = 20;
const TOKEN = 'bench-' + Math.random().toString(36).slice(2);
const TARGETS = { bundle_gzip_bytes: 1_000_000, first_usable_ms: 1500, keystroke_p99_ms: 50 };
const FILE = 'bench.py';
const TEXT = Array.from({ length: 200 }, (_, i) => `def f${i}(x):\n    return x + ${i}\n`).join('');

if (!existsSync(CHROMIUM) || !existsSync(join(WEB, 'app.js'))) {
  emit({ bench: 'web', skipped: !existsSync(CHROMIUM) ? `no Chromium at ${CHROMIUM} (apt-get install chromium)` : 'no dist/web (npm run build)' });
  process.exit(0);
}

const tmp = mkdtempSync(join(tmpdir(), 'icpy-bench-web-'));
writeFileSync(join(tmp, FILE), TEXT);
writeFileSync(join(tmp, 'typing.txt'), 'start\n');
writeFileSync(join(tmp, 'baseline.txt'), 'start\n');

// ---- bundle ------------------------------------------------------------------------------------
const gz = (f) => gzipSync(readFileSync(join(WEB, f)), { level: 9 }).length;
const js = gz('app.js');
const css = gz('app.css');
emit({ bench: 'web', figure: 'bundle_gzip_bytes', js, css, total: js + css, raw: readFileSync(join(WEB, 'app.js')).length + readFileSync(join(WEB, 'app.css')).length, target: TARGETS.bundle_gzip_bytes, ok: js + css < TARGETS.bundle_gzip_bytes });

const server = forkChild(join(here, 'lib/icpy-server.mjs'), [tmp, '--host', '127.0.0.1', '--port', '0', '--token', TOKEN, '--log-level', 'error']);
let browser;
try {
  const { url } = await nextMessage(server, 'ready');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });

  // Log in once: the cookie the token URL sets is what every later context carries.
  const login = await browser.newContext();
  const lp = await login.newPage();
  await lp.goto(`${url}/?token=${encodeURIComponent(TOKEN)}`);
  await lp.waitForFunction(() => window.icpy?.ctx?.rpc?.state === 'open', undefined, { timeout: 30_000 });
  const cookies = await login.cookies(url);
  await login.close();

  // ---- navigation → usable editor -----------------------------------------------------------
  // Resolves with the page's performance.now() at the first frame where the file is shown and usable.
  const usable = (page, first) =>
    page.waitForFunction(
      (line) => {
        const ctx = window.icpy?.ctx;
        const v = ctx?.view;
        if (!v || ctx.rpc.state !== 'open' || !v.contentDOM.isContentEditable) return false;
        if (!v.state.doc.toString().startsWith(line) || !v.contentDOM.textContent.includes(line)) return false;
        return performance.now();
      },
      first,
      { polling: 'raf', timeout: 30_000 },
    );
  const firstLine = TEXT.split('\n')[0];
  const cold = [];
  const reload = [];
  for (let i = 0; i < NAV_RUNS; i++) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await ctx.addCookies(cookies);
    const page = await ctx.newPage();
    await page.goto(`${url}/#/${FILE}`);
    cold.push(await (await usable(page, firstLine)).jsonValue());
    await page.reload();
    reload.push(await (await usable(page, firstLine)).jsonValue());
    await ctx.close();
  }
  for (const [mode, xs] of [['cold', cold], ['reload', reload]]) {
    emit({ bench: 'web', figure: 'first_usable_ms', mode, runs: xs.length, median: round(median(xs), 1), max: round(Math.max(...xs), 1), target: TARGETS.first_usable_ms, ok: median(xs) < TARGETS.first_usable_ms });
  }

  // ---- keystroke → remote render, two browser contexts ----------------------------------------
  const open = async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await ctx.addCookies(cookies);
    const page = await ctx.newPage();
    await page.goto(`${url}/#/typing.txt`);
    await usable(page, 'start');
    return { ctx, page };
  };
  const A = await open();
  const B = await open();
  await B.page.evaluate(() => {
    const v = window.icpy.ctx.view;
    let last = v.state.doc.length;
    window.__arrivals = [];
    new MutationObserver(() => {
      const n = window.icpy.ctx.view.state.doc.length;
      if (n > last && window.icpy.ctx.view.contentDOM.textContent.length > 0) {
        for (let k = last; k < n; k++) window.__arrivals.push(performance.timeOrigin + performance.now());
        last = n;
      }
    }).observe(v.contentDOM, { subtree: true, childList: true, characterData: true });
  });
  await A.page.evaluate(() => {
    window.__keys = [];
    window.addEventListener('keydown', () => window.__keys.push(performance.timeOrigin + performance.now()), true);
  });
  await A.page.locator('.cm-content').first().click();
  await A.page.keyboard.press('Control+End');
  await A.page.evaluate(() => (window.__keys.length = 0));
  const steal = stealMeter();
  for (let i = 0; i < WARMUP + KEYS; i++) {
    await A.page.keyboard.press(String.fromCharCode(97 + (i % 26)));
    await B.page.waitForFunction((n) => window.__arrivals.length >= n, i + 1, { polling: 'raf', timeout: 10_000 });
  }
  const keys = await A.page.evaluate(() => window.__keys);
  const arrivals = await B.page.evaluate(() => window.__arrivals);
  const lat = arrivals.slice(WARMUP).map((t, k) => t - keys[WARMUP + k]);
  emit({ bench: 'web', figure: 'keystroke_remote_ms', path: 'browser→browser', n: lat.length, p50: round(percentile(lat, 50)), p99: round(percentile(lat, 99)), max: round(Math.max(...lat)), target_p99: TARGETS.keystroke_p99_ms, ok: percentile(lat, 99) < TARGETS.keystroke_p99_ms, steal_pct: steal() });
  await A.ctx.close();
  await B.ctx.close();

  // ---- baseline: the same room path with two y-websocket providers in Node ---------------------
  const provider = () => {
    const doc = new Y.Doc();
    const p = new WebsocketProvider(url.replace(/^http/, 'ws') + '/api/yjs', 'baseline.txt', doc, { params: { token: TOKEN }, WebSocketPolyfill: WebSocket, disableBc: true });
    return { doc, text: doc.getText('content'), p, synced: new Promise((r) => p.once('sync', r)) };
  };
  const pa = provider();
  const pb = provider();
  await Promise.all([pa.synced, pb.synced]);
  const base = [];
  const steal2 = stealMeter();
  for (let i = 0; i < WARMUP + KEYS; i++) {
    const got = new Promise((r) => pb.text.observe(function f() { pb.text.unobserve(f); r(nowMs()); }));
    const t0 = nowMs();
    pa.text.insert(pa.text.length, String.fromCharCode(97 + (i % 26)));
    const t1 = await got;
    if (i >= WARMUP) base.push(t1 - t0);
  }
  emit({ bench: 'web', figure: 'keystroke_remote_ms', path: 'baseline y-websocket node→node', n: base.length, p50: round(percentile(base, 50)), p99: round(percentile(base, 99)), max: round(Math.max(...base)), steal_pct: steal2() });
  // The provider leaves its awareness (and the awareness's interval) to the doc's lifetime.
  for (const c of [pa, pb]) {
    c.p.destroy();
    c.p.awareness.destroy();
    c.doc.destroy();
  }
} finally {
  await browser?.close();
  await stopChild(server);
  rmSync(tmp, { recursive: true, force: true });
}
