// Raw baseline for bench/files: a bare Node HTTP server doing the same file work with
// fs.promises and nothing else (no auth, no confinement, no versions, no JSON-RPC):
//   GET /read/P → readFile · PUT /write/P → body to a temp file + rename (the same atomic write
//   icpy does) · GET /stat/P → stat as JSON · GET /list/D → readdir + stat of each entry as JSON.
import { createServer } from 'node:http';
import { readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exitWithParent, send } from './ipc-child.mjs';

const root = process.argv[2];
let n = 0;

const http = createServer(async (req, res) => {
  try {
    const [, verb, ...rest] = decodeURIComponent(req.url.split('?')[0]).split('/');
    const p = join(root, rest.join('/'));
    if (verb === 'read') {
      const buf = await readFile(p);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': buf.length }).end(buf);
    } else if (verb === 'write') {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const tmp = `${p}.${process.pid}.${n++}.tmp`;
      await writeFile(tmp, Buffer.concat(chunks));
      await rename(tmp, p);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    } else if (verb === 'stat') {
      const s = await stat(p);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ size: s.size, mtime: s.mtimeMs, dir: s.isDirectory() }));
    } else if (verb === 'list') {
      const entries = await readdir(p, { withFileTypes: true });
      const out = await Promise.all(
        entries.map(async (e) => {
          const s = await stat(join(p, e.name));
          return { name: e.name, type: e.isDirectory() ? 'dir' : 'file', size: s.size, mtime: s.mtimeMs };
        }),
      );
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
    } else res.writeHead(404).end();
  } catch (err) {
    res.writeHead(500).end(String(err));
  }
});
http.keepAliveTimeout = 60_000;

exitWithParent(async () => {
  http.closeAllConnections();
  await new Promise((r) => http.close(r));
});

http.listen(0, '127.0.0.1', () => send({ type: 'ready', url: `http://127.0.0.1:${http.address().port}`, pid: process.pid }));
