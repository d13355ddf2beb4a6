import { readdirSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** CSP of the web workspace (issue 14 design): its own script and styles, nothing from elsewhere. */
export const APP_CSP =
  "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** Where the built app's files are asked for. */
export const ASSETS_PREFIX = '/assets/';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

const typeOf = (name: string) => TYPES[name.slice(name.lastIndexOf('.')).toLowerCase()] ?? 'application/octet-stream';

/** Longest file name served (the listing is of a build output folder; anything odder is left out). */
const MAX_NAME = 128;
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * The built web workspace (`dist/web/`): `index.html` at `/`, every other top-level file at
 * `/assets/<name>`. The set of names is fixed from one directory listing when the server starts;
 * a URL is only ever looked up in that set, so no part of it reaches the file system.
 */
export class WebApp {
  private readonly files = new Map<string, string>();
  readonly built: boolean;

  constructor(readonly dir: string | undefined) {
    let names: string[] = [];
    if (dir !== undefined) {
      try {
        names = readdirSync(dir, { withFileTypes: true })
          .filter((e) => e.isFile() && e.name.length <= MAX_NAME && SAFE_NAME.test(e.name))
          .map((e) => e.name);
      } catch {
        names = [];
      }
    }
    for (const name of names) this.files.set(name, join(dir!, name));
    this.built = this.files.has('index.html');
  }

  /** `GET /`: the app's page, or a 503 page saying how to build it. */
  async sendIndex(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    pageHeaders(reply).header('Cache-Control', 'no-store');
    if (!this.built) return reply.code(503).type('text/html; charset=utf-8').send(NOT_BUILT_PAGE);
    return this.sendFile('index.html', req, reply);
  }

  /** `GET /assets/<name>`: a listed file (not index.html), revalidated by ETag; else 404. */
  async sendAsset(name: string, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    if (name === 'index.html' || !this.files.has(name)) return undefined;
    pageHeaders(reply).header('Cache-Control', 'no-cache');
    return this.sendFile(name, req, reply);
  }

  private async sendFile(name: string, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const path = this.files.get(name)!;
    let body: Buffer;
    let etag: string;
    try {
      const st = await stat(path);
      etag = `W/"${st.size.toString(36)}-${Math.floor(st.mtimeMs).toString(36)}"`;
      if (req.headers['if-none-match'] === etag) return reply.code(304).header('ETag', etag).send();
      body = await readFile(path);
    } catch {
      // Removed since the listing (a rebuild in progress): as if it were not built.
      return reply.code(503).header('Cache-Control', 'no-store').type('text/html; charset=utf-8').send(NOT_BUILT_PAGE);
    }
    return reply.header('ETag', etag).type(typeOf(name)).send(body);
  }
}

function pageHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('Content-Security-Policy', APP_CSP)
    .header('X-Content-Type-Options', 'nosniff')
    .header('Referrer-Policy', 'no-referrer');
}

const NOT_BUILT_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>icpy</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:720px;margin:2rem auto;padding:0 1rem;color:#222}code{font-family:ui-monospace,monospace}</style></head>
<body><h1>The web UI is not built</h1>
<p>The web UI is not built: run <code>npm run build</code> in the icpy package, then reload.
The API works meanwhile: <a href="/api/docs">API reference</a> (with the token), <a href="/api/health">health</a>.</p>
</body></html>`;
