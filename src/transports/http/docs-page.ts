import { exampleName, jsonSchemaOf, type MethodDefinition, type MethodRegistry } from '../../core/rpc/index.js';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Each example as the params sent and the result they give. */
function examplesOf(m: MethodDefinition): string {
  return (m.examples ?? [])
    .map(
      (ex, i) => `
<details class="example"><summary>example: ${esc(exampleName(ex, i))}${ex.description ? ` — ${esc(ex.description)}` : ''}</summary>
<pre>${esc(JSON.stringify({ jsonrpc: '2.0', id: 1, method: m.name, params: ex.params }, null, 2))}</pre>
<pre>${esc(JSON.stringify({ jsonrpc: '2.0', id: 1, result: ex.result }, null, 2))}</pre></details>`,
    )
    .join('');
}

/**
 * A self-contained HTML reference of every method and event, rendered from the registry.
 * `tokenQuery` (`?token=…` or '') is appended to its links to other authenticated pages.
 */
export function renderDocsPage(registry: MethodRegistry, title: string, tokenQuery = ''): string {
  const methods = registry.list();
  const events = registry.listEvents();
  const groups = new Map<string, typeof methods>();
  for (const m of methods) {
    const g = m.name.split('.')[0]!;
    groups.set(g, [...(groups.get(g) ?? []), m]);
  }
  const toc = [...groups.keys()].map((g) => `<a href="#g-${esc(g)}">${esc(g)}</a>`).join(' · ');
  const sections = [...groups.entries()]
    .map(
      ([g, ms]) => `<h2 id="g-${esc(g)}">${esc(g)}</h2>` +
        ms
          .map(
            (m) => `<section id="${esc(m.name)}"><h3><code>${esc(m.name)}</code> <small>scope: ${m.scope}${m.requiresSession ? ' · WebSocket only' : ''}</small></h3>
<p>${esc(m.description)}</p>
<details><summary>params</summary><pre>${esc(JSON.stringify(jsonSchemaOf(m.params, 'input'), null, 2))}</pre></details>
<details><summary>result</summary><pre>${esc(JSON.stringify(jsonSchemaOf(m.result, 'output'), null, 2))}</pre></details>${examplesOf(m)}</section>`,
          )
          .join('\n'),
    )
    .join('\n');
  const ev = events
    .map(
      (e) => `<section><h3><code>${esc(e.topic)}</code></h3><p>${esc(e.description)}</p>
<details><summary>data</summary><pre>${esc(JSON.stringify(jsonSchemaOf(e.data, 'output'), null, 2))}</pre></details></section>`,
    )
    .join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)} API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#222}
code,pre{font-family:ui-monospace,monospace}pre{background:#f6f8fa;padding:.75rem;overflow:auto;font-size:13px}
section{border-top:1px solid #eee;padding:.5rem 0}small{color:#666;font-weight:normal}</style></head>
<body><h1>${esc(title)} API</h1>
<p><a href="/${esc(tokenQuery)}">Home</a></p>
<p>JSON-RPC 2.0 over <code>POST /api/rpc</code> and the WebSocket <code>/api/ws</code>; each method is also <code>POST /api/rpc/{method}</code>
(<a href="/api/openapi.json${esc(tokenQuery)}">OpenAPI</a>). Events: <code>events.subscribe</code> or <code>GET /api/events</code> (SSE).</p>
<p>${methods.length} methods, ${events.length} events. ${toc} · <a href="#events">events</a></p>
${sections}
<h2 id="events">Events</h2>
${ev}
</body></html>`;
}
