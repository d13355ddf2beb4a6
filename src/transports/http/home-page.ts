const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** `?token=…` for links from a page that was opened with that token. */
export function tokenQuery(token: string): string {
  return `?token=${encodeURIComponent(token)}`;
}

/**
 * What `GET /` (the URL `icpy serve` prints) shows until the web workspace exists: what this is
 * and links that work with the credentials the page was opened with. No script.
 */
export function renderHomePage(opts: { title: string; version: string; tokenQuery: string | undefined }): string {
  const q = opts.tokenQuery ?? '';
  const links = opts.tokenQuery
    ? `<ul>
<li><a href="/api/docs${esc(q)}">API reference</a> — every method and event, from the running server</li>
<li><a href="/api/openapi.json${esc(q)}">OpenAPI document</a> (<code>/api/openapi.json</code>)</li>
<li><a href="/api/health">Health</a> (<code>/api/health</code>, no token needed)</li>
</ul>`
    : `<p>Open the URL that <code>icpy serve</code> printed (it ends in <code>?token=…</code>) to get working links,
or send <code>Authorization: Bearer TOKEN</code>. <a href="/api/health">Health</a> needs no token.</p>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(opts.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:720px;margin:2rem auto;padding:0 1rem;color:#222}code{font-family:ui-monospace,monospace}</style></head>
<body><h1>${esc(opts.title)} ${esc(opts.version)}</h1>
<p>This is an icpy workspace server: one JSON-RPC 2.0 protocol over WebSocket (<code>/api/ws</code>),
HTTP (<code>POST /api/rpc</code>, <code>POST /api/rpc/{method}</code>), REST files (<code>/api/files/{path}</code>)
and Server-Sent Events (<code>/api/events</code>). The web workspace is not built yet; this page links to what is.</p>
${links}
</body></html>`;
}
