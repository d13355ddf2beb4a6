// `node lsp-tap.mjs LOG CMD ARGS…`: run a language server with stdio passed through untouched,
// and append one JSON line {t, uri, n} to LOG for each textDocument/publishDiagnostics the server
// writes (t = epoch ms just before the message is handed on). bench/lsp starts icpy's server
// through this to time icpy's own part of the diagnostics path. The server stays in our process
// group, so whoever stops the group stops it too.
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';

const [logPath, cmd, ...args] = process.argv.slice(2);
const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
process.stdin.pipe(child.stdin);
child.on('exit', (code, sig) => process.exit(code ?? (sig ? 1 : 0)));
for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => child.kill(s));

const HEADER_END = Buffer.from('\r\n\r\n');
let buf = Buffer.alloc(0);
child.stdout.on('data', (chunk) => {
  buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
  const taps = [];
  let start = 0;
  for (;;) {
    const h = buf.indexOf(HEADER_END, start);
    if (h < 0) break;
    const m = /content-length:\s*(\d+)/i.exec(buf.subarray(start, h).toString('ascii'));
    if (!m) throw new Error('lsp-tap: a header without Content-Length');
    const end = h + 4 + Number(m[1]);
    if (end > buf.length) break;
    const body = buf.subarray(h + 4, end);
    // Cheap test first: most messages are not diagnostics.
    if (body.includes('textDocument/publishDiagnostics')) {
      const msg = JSON.parse(body.toString('utf8'));
      if (msg.method === 'textDocument/publishDiagnostics') taps.push({ uri: msg.params.uri, n: msg.params.diagnostics.length });
    }
    start = end;
  }
  const whole = buf.subarray(0, start);
  buf = buf.subarray(start);
  if (!whole.length) return;
  const t = performance.timeOrigin + performance.now();
  process.stdout.write(whole);
  if (taps.length) appendFileSync(logPath, taps.map((e) => JSON.stringify({ t, ...e }) + '\n').join(''));
});
child.stdout.on('end', () => process.stdout.end());
